package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/localapi"
	"github.com/speakerbox/speakerbox/receiver"
)

// deviceControl is the Connect device as the local API's Controller. The
// web page's controls (issue 14) need it; written on branch web because no
// branch had wired receiver.Device.Control (devctl) to the API (api) yet.
type deviceControl struct{ d *receiver.Device }

var controlKinds = map[localapi.ControlKind]receiver.ControlKind{
	localapi.Play: receiver.ControlPlay, localapi.Pause: receiver.ControlPause,
	localapi.Next: receiver.ControlNext, localapi.Previous: receiver.ControlPrevious,
	localapi.Seek: receiver.ControlSeek, localapi.Volume: receiver.ControlVolume,
}

func (c deviceControl) Control(ctx context.Context, lc localapi.Control) error {
	k, ok := controlKinds[lc.Kind]
	if !ok {
		return fmt.Errorf("player command %s: %w", lc.Kind, localapi.ErrUnavailable)
	}
	err := c.d.Control(ctx, receiver.Control{Kind: k, PositionMs: lc.PositionMs, Volume: uint32(lc.Volume)})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, receiver.ErrNoSession):
		return fmt.Errorf("%w: %v", localapi.ErrNoSession, err)
	case errors.Is(err, receiver.ErrInvalidControl):
		return fmt.Errorf("%w: %v", localapi.ErrInvalid, err)
	case errors.Is(err, receiver.ErrNotRunning):
		return fmt.Errorf("%w: %v", localapi.ErrUnavailable, err)
	}
	return err
}

// deviceStatus is the Connect device's own view for GET /status.
type deviceStatus struct{ d *receiver.Device }

func (s deviceStatus) ReceiverStatus() localapi.ReceiverStatus {
	st := s.d.Status()
	return localapi.ReceiverStatus{
		Session: st.State.String(), User: st.User, TrackURI: st.TrackURI,
		PositionMs: st.PositionMs, PositionAt: st.PositionAt, DurationMs: st.DurationMs,
		Volume: uint16(min(st.Volume, 65535)),
	}
}

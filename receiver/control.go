package receiver

import (
	"context"
	"errors"
	"fmt"

	"github.com/speakerbox/speakerbox/receiver/connect"
)

// ControlKind is what a Control asks for.
type ControlKind int

const (
	ControlPlay     ControlKind = iota + 1 // resume the current track
	ControlPause                           // pause it
	ControlNext                            // the next track (queue, then context, then autoplay)
	ControlPrevious                        // restart a track more than 3 s in, else the previous one
	ControlSeek                            // move to PositionMs
	ControlVolume                          // set Volume
)

var controlNames = [...]string{ControlPlay: "play", ControlPause: "pause", ControlNext: "next",
	ControlPrevious: "previous", ControlSeek: "seek", ControlVolume: "volume"}

func (k ControlKind) String() string {
	if k >= ControlPlay && k <= ControlVolume {
		return controlNames[k]
	}
	return fmt.Sprintf("ControlKind(%d)", int(k))
}

// Control is a command from the speaker's own control API. The device
// carries it out as it would the same command from a Spotify app: the
// player follows, the apps show the new state at once, hooks run.
type Control struct {
	Kind ControlKind
	// PositionMs (ControlSeek): 0..the track's duration (Status.DurationMs).
	// Beyond the end is refused rather than clamped, so that a bad value
	// gets an error and changes nothing. While the duration is not known
	// yet (the track still loads) the player clamps it.
	PositionMs int64
	// Volume (ControlVolume): 0..65535. Above audio.max_volume it is
	// capped, as an app's is.
	Volume uint32
}

var (
	// ErrNoSession: there is nothing to control. No app has chosen the
	// speaker (or the session ended), nothing is loaded, or the app's
	// choice is still loading; the wrapped message says which. The
	// volume never fails this way: it is the speaker's own, with or
	// without a session.
	ErrNoSession = errors.New("no Spotify Connect session to control")
	// ErrInvalidControl: a value or kind outside what is allowed.
	ErrInvalidControl = errors.New("invalid control")
	// ErrNotRunning: Run has returned, so nothing answers.
	ErrNotRunning = errors.New("the Spotify receiver is not running")
)

type controlReq struct {
	cmd  connect.LocalCommand
	done chan error // cap 1: the loop never waits for the caller
}

// Control carries out c through the device's loop and returns once the
// player was told and the new state handed to the publisher. Errors:
// ErrInvalidControl (bad kind or value, nothing changed), ErrNoSession
// (nothing to control, nothing changed), ErrNotRunning (Run has returned)
// and ctx's error. If ctx ends after the loop took the command it may
// still be carried out. Safe from any goroutine. Before Run starts it
// waits (bounded by ctx).
func (d *Device) Control(ctx context.Context, c Control) error {
	cmd, err := c.local()
	if err != nil {
		return err
	}
	return d.local(ctx, cmd)
}

// local hands cmd to the loop and waits for its answer.
func (d *Device) local(ctx context.Context, cmd connect.LocalCommand) error {
	r := controlReq{cmd: cmd, done: make(chan error, 1)}
	select {
	case d.controls <- r:
	case <-d.stopped:
		return ErrNotRunning
	case <-ctx.Done():
		return fmt.Errorf("%v: %w", cmd.Kind, ctx.Err())
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%v: %w", cmd.Kind, ctx.Err())
	}
}

// SetName renames the device in the apps while it runs (the owner's
// settings): published at once when connected, else with the next
// announcement. Errors as Control's; an empty name is ErrInvalidControl.
func (d *Device) SetName(ctx context.Context, name string) error {
	return d.local(ctx, connect.LocalCommand{Kind: connect.LocalSetName, Name: name})
}

// SetMaxVolume changes the cap on the volume (0..65535, 0 for none, as
// DeviceConfig.MaxVolume): a volume above the new cap is lowered at once,
// on the player and in the apps. Errors as Control's.
func (d *Device) SetMaxVolume(ctx context.Context, v uint32) error {
	return d.local(ctx, connect.LocalCommand{Kind: connect.LocalSetMaxVolume, MaxVolume: v})
}

// SetAutoplay changes who decides whether similar music follows the end
// of a context, from the next end on. Errors as Control's.
func (d *Device) SetAutoplay(ctx context.Context, a connect.Autoplay) error {
	return d.local(ctx, connect.LocalCommand{Kind: connect.LocalSetAutoplay, Autoplay: a})
}

// local checks what needs no state and translates.
func (c Control) local() (connect.LocalCommand, error) {
	var k connect.LocalKind
	switch c.Kind {
	case ControlPlay:
		k = connect.LocalPlay
	case ControlPause:
		k = connect.LocalPause
	case ControlNext:
		k = connect.LocalNext
	case ControlPrevious:
		k = connect.LocalPrevious
	case ControlSeek:
		if c.PositionMs < 0 {
			return connect.LocalCommand{}, fmt.Errorf("%w: seek to %d ms: want a position of 0 or more", ErrInvalidControl, c.PositionMs)
		}
		k = connect.LocalSeek
	case ControlVolume:
		if c.Volume > connect.MaxVolume {
			return connect.LocalCommand{}, fmt.Errorf("%w: volume %d: want 0..%d", ErrInvalidControl, c.Volume, connect.MaxVolume)
		}
		k = connect.LocalSetVolume
	default:
		return connect.LocalCommand{}, fmt.Errorf("%w: unknown kind %v", ErrInvalidControl, c.Kind)
	}
	return connect.LocalCommand{Kind: k, PositionMs: c.PositionMs, Volume: c.Volume}, nil
}

// controlError turns the state machine's refusal into ours.
func controlError(kind connect.LocalKind, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, connect.ErrOutOfRange), errors.Is(err, connect.ErrUnknownCommand):
		return fmt.Errorf("%w: %v: %w", ErrInvalidControl, kind, err)
	default:
		return fmt.Errorf("%w: %v: %w", ErrNoSession, kind, err)
	}
}

// control runs on the loop: one step, its effects, the new status, then
// the answer (so a caller reading Status after Control sees the change).
func (l *loop) control(r controlReq) {
	effs := l.step(r.cmd)
	err := errors.New("the state machine did not answer") // never: LocalReply is always first
	if len(effs) > 0 {
		if lr, ok := effs[0].(connect.LocalReply); ok {
			err = lr.Err
		}
	}
	l.log.Debug("control from the local API", "kind", r.cmd.Kind, "err", err)
	l.apply(effs, nil)
	l.publishStatus()
	r.done <- controlError(r.cmd.Kind, err)
}

// Ping returns once the device's loop has taken it from its select, so a
// wedged loop does not answer (for the systemd watchdog). ErrNotRunning
// once Run has returned; ctx's error if the loop is busy or not started.
func (d *Device) Ping(ctx context.Context) error {
	select {
	case d.pings <- struct{}{}:
		return nil
	case <-d.stopped:
		return ErrNotRunning
	case <-ctx.Done():
		return fmt.Errorf("ping the Spotify receiver: %w", ctx.Err())
	}
}

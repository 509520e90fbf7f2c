package receiver

import (
	"fmt"
	"sync/atomic"
	"time"
)

// SessionState is the device's state as the control API names it.
type SessionState int

const (
	// SessionOffline: not talking to Spotify though it has credentials
	// (waiting to retry after a failed login or a lost connection), or Run
	// is not running.
	SessionOffline SessionState = iota
	// SessionWaiting: no credentials; waiting for a phone to hand some over
	// (first start, refused login, logout).
	SessionWaiting
	// SessionLoggingIn: logging in, building the services, or waiting for
	// the dealer to (re)connect.
	SessionLoggingIn
	// SessionConnected: listed in the apps, nothing playing.
	SessionConnected
	// SessionPlaying: a track plays (or loads: Status.Buffering).
	SessionPlaying
	// SessionPaused: a track is loaded and paused.
	SessionPaused
)

var sessionStateNames = [...]string{SessionOffline: "offline", SessionWaiting: "waiting",
	SessionLoggingIn: "logging_in", SessionConnected: "connected", SessionPlaying: "playing", SessionPaused: "paused"}

// String is the word the control API's JSON uses.
func (s SessionState) String() string {
	if s >= 0 && int(s) < len(sessionStateNames) {
		return sessionStateNames[s]
	}
	return fmt.Sprintf("SessionState(%d)", int(s))
}

// MarshalText makes a SessionState its word in JSON.
func (s SessionState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Status is what the device is doing, for the control API. The music may
// go on playing while the connection to Spotify is rebuilt: State then
// says playing (or paused) and Online says false.
type Status struct {
	State  SessionState
	Online bool   // the dealer is connected: the apps see the speaker
	User   string // the logged-in (or logging-in) user, in full; "" when none

	TrackURI   string // "" when no track
	ContextURI string
	// PositionMs is the position at PositionAt; it moves on from there
	// while State is SessionPlaying and Buffering is false. PositionAt is
	// zero when there is no track.
	PositionMs int64
	PositionAt time.Time
	DurationMs int64 // 0 while unknown
	Paused     bool
	Buffering  bool

	Volume        uint32 // 0..65535
	Shuffle       bool
	RepeatContext bool
	RepeatTrack   bool
}

// moving says whether the position moves on with the clock.
func (s Status) moving() bool { return s.State == SessionPlaying && !s.Buffering }

// positionSlack is how far a new position anchor may lie from the old one
// extrapolated before it counts as a change: the player reports positions
// every few seconds, and waking every watcher for each would tell them
// nothing new.
const positionSlack = time.Second

// sameStatus: b tells a watcher nothing a has not told it.
func sameStatus(a, b Status) bool {
	ap, bp := a, b
	ap.PositionMs, ap.PositionAt, bp.PositionMs, bp.PositionAt = 0, time.Time{}, 0, time.Time{}
	if ap != bp || a.PositionAt.IsZero() != b.PositionAt.IsZero() {
		return false
	}
	want := a.PositionMs
	if a.moving() {
		want += b.PositionAt.Sub(a.PositionAt).Milliseconds()
		if a.DurationMs > 0 {
			want = min(want, a.DurationMs)
		}
		d := want - b.PositionMs
		return d <= positionSlack.Milliseconds() && d >= -positionSlack.Milliseconds()
	}
	return want == b.PositionMs
}

// statusSnap is one published Status; changed closes when the next one is
// published.
type statusSnap struct {
	st      Status
	changed chan struct{}
}

// statusCell holds the latest Status. One goroutine (the loop, or Run
// around it) sets it; any goroutine reads it without locks.
type statusCell struct{ p atomic.Pointer[statusSnap] }

// set publishes st unless it tells nothing new; it never blocks.
func (c *statusCell) set(st Status) {
	old := c.p.Load()
	if old != nil && sameStatus(old.st, st) {
		return
	}
	c.p.Store(&statusSnap{st: st, changed: make(chan struct{})})
	if old != nil {
		close(old.changed)
	}
}

// Status returns what the device is doing now. Safe from any goroutine.
func (d *Device) Status() Status { return d.status.p.Load().st }

// StatusChanged returns a channel that is closed when a Status newer than
// the current one is published. Take the channel first, then Status, and
// wait on the channel again after it closes: changes in between are
// coalesced, never missed, and no watcher can hold up the device.
//
//	for {
//		ch := dev.StatusChanged()
//		show(dev.Status())
//		select { case <-ch: case <-ctx.Done(): return }
//	}
func (d *Device) StatusChanged() <-chan struct{} { return d.status.p.Load().changed }

// publishStatus publishes the loop's state; called after every step.
func (l *loop) publishStatus() {
	l.d.status.set(l.status())
}

func (l *loop) status() Status {
	sn := l.state.Snapshot()
	st := Status{
		Online:        l.ch != nil && l.ch.connected && l.dealerLost == nil,
		TrackURI:      sn.TrackURI,
		ContextURI:    sn.ContextURI,
		DurationMs:    sn.DurationMs,
		Paused:        sn.Paused,
		Buffering:     sn.Buffering,
		Volume:        sn.Volume,
		Shuffle:       sn.Shuffle,
		RepeatContext: sn.RepeatContext,
		RepeatTrack:   sn.RepeatTrack,
	}
	if sn.TrackURI != "" {
		st.PositionMs, st.PositionAt = sn.PositionMs, time.UnixMilli(sn.PositionAt)
	}
	switch {
	case l.conn != nil:
		st.User = l.conn.Username()
	case l.login != nil:
		st.User = l.login.Username
	}
	switch {
	case sn.Loaded && sn.Paused:
		st.State = SessionPaused
	case sn.Loaded:
		st.State = SessionPlaying
	case st.Online:
		st.State = SessionConnected
	case l.login == nil:
		st.State = SessionWaiting
	case l.dialing != nil || l.conn != nil:
		st.State = SessionLoggingIn
	default:
		st.State = SessionOffline
	}
	return st
}

// offlineStatus is the status before and after Run: the remembered volume,
// nothing else.
func offlineStatus(volume uint32) Status {
	return Status{State: SessionOffline, Volume: volume}
}

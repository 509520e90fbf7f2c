package localapi

import (
	"context"
	"errors"
	"time"
)

// ErrNoSession is what a Controller returns when there is nothing to
// control: no Spotify session, or no track. The API answers 409.
var ErrNoSession = errors.New("nothing to control: no Spotify session or track")

// ErrUnavailable is what a part returns when it cannot take commands at
// all (not wired in this build, not running yet). The API answers 503.
var ErrUnavailable = errors.New("not available")

// ErrInvalid is what a part returns for a command it refuses as out of
// range for the moment (a seek past the track's end). The API answers 400.
var ErrInvalid = errors.New("invalid command")

// ErrNoRelay is what a Relay returns when no amplifier switch is
// configured. The API answers 409.
var ErrNoRelay = errors.New("no amplifier relay is configured")

// ControlKind names a player command.
type ControlKind int

// The player commands of POST /player/{play,pause,next,previous,seek,volume}.
const (
	Play ControlKind = iota + 1
	Pause
	Next
	Previous
	Seek
	Volume
)

var controlNames = [...]string{Play: "play", Pause: "pause", Next: "next", Previous: "previous", Seek: "seek", Volume: "volume"}

func (k ControlKind) String() string {
	if k > 0 && int(k) < len(controlNames) {
		return controlNames[k]
	}
	return "unknown"
}

// Control is one player command, validated: PositionMs for Seek (0 or
// more), Volume for Volume (Spotify's 0..65535 scale).
type Control struct {
	Kind       ControlKind
	PositionMs int64
	Volume     uint16
}

// Controller carries out player commands: the Connect device. It returns
// ErrNoSession (possibly wrapped) when there is nothing to control.
type Controller interface {
	Control(ctx context.Context, c Control) error
}

// ControllerFunc adapts a function to a Controller.
type ControllerFunc func(ctx context.Context, c Control) error

// Control implements Controller.
func (f ControllerFunc) Control(ctx context.Context, c Control) error { return f(ctx, c) }

// RelayMode is how the amplifier relay is driven.
type RelayMode string

// Relay modes. RelayNone: nothing switches an amplifier.
const (
	RelayAuto RelayMode = "auto" // on while audio plays, off after the idle timeout
	RelayOn   RelayMode = "on"   // held on
	RelayOff  RelayMode = "off"  // held off
	RelayNone RelayMode = "none"
)

// Relay is the amplifier switch with a manual override.
type Relay interface {
	// SetMode holds the relay on or off, or gives it back to playback.
	// It returns ErrNoRelay when nothing is switched.
	SetMode(ctx context.Context, m RelayMode) error
	// RelayState must not block: it is read for every status.
	RelayState() (on bool, mode RelayMode)
}

// ZeroConf logs the phone's user out as the ZeroConf resetUsers action
// does.
type ZeroConf interface {
	ResetUsers(ctx context.Context) error
}

// ReceiverStatus is the Connect device's own view of the session, which
// hook events cannot tell in full (offline, logging in). Session is one of
// the session states of GET /status ("" when unknown).
type ReceiverStatus struct {
	Session    string
	User       string // whole; the API shortens it
	TrackURI   string
	PositionMs int64
	PositionAt time.Time
	DurationMs int64
	Volume     uint16
}

// StatusSource is the device's status, safe to call from any goroutine.
// The server never calls it from inside Emit.
type StatusSource interface {
	ReceiverStatus() ReceiverStatus
}

// StatusSourceFunc adapts a function to a StatusSource.
type StatusSourceFunc func() ReceiverStatus

// ReceiverStatus implements StatusSource.
func (f StatusSourceFunc) ReceiverStatus() ReceiverStatus { return f() }

// Providers fill the parts of /status that are not hook events. Each may
// be nil; each must be cheap and must not block.
type Providers struct {
	Output   func() OutputStatus
	Buffer   func() BufferStatus
	Counters func() map[string]float64
}

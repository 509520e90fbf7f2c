package connect

import (
	"errors"
	"fmt"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
)

// LocalKind is what a LocalCommand asks for.
type LocalKind int

const (
	LocalPlay      LocalKind = iota + 1 // resume (the app's "resume")
	LocalPause                          // the app's "pause"
	LocalNext                           // the app's "skip_next" without a track
	LocalPrevious                       // the app's "skip_prev" with allow_seeking
	LocalSeek                           // the app's "seek_to" to PositionMs
	LocalSetVolume                      // the app's volume message with Volume
	// The owner's settings, changed while running (the web page). They
	// exist without a session, like the volume.
	LocalSetName      // Name: what the apps list
	LocalSetMaxVolume // MaxVolume: the new cap; a volume above it is lowered
	LocalSetAutoplay  // Autoplay: who decides on similar music at the end
)

func (k LocalKind) String() string {
	switch k {
	case LocalPlay:
		return "play"
	case LocalPause:
		return "pause"
	case LocalNext:
		return "next"
	case LocalPrevious:
		return "previous"
	case LocalSeek:
		return "seek"
	case LocalSetVolume:
		return "volume"
	case LocalSetName:
		return "name"
	case LocalSetMaxVolume:
		return "max volume"
	case LocalSetAutoplay:
		return "autoplay"
	}
	return fmt.Sprintf("LocalKind(%d)", int(k))
}

// LocalCommand is a command from the speaker's own control API (not from
// an app). The machine treats it as the same command from an app: the
// player is driven, the new state is published so the apps show it at
// once, hooks are emitted. The answer is a LocalReply, always the first
// effect; a refused command changes nothing.
type LocalCommand struct {
	Kind       LocalKind
	PositionMs int64    // LocalSeek: 0..the track's duration
	Volume     uint32   // LocalSetVolume: 0..MaxVolume (capped by Config.MaxVolume, as the app's)
	Name       string   // LocalSetName: not empty
	MaxVolume  uint32   // LocalSetMaxVolume: 0..MaxVolume; 0 means no cap, as Config.MaxVolume
	Autoplay   Autoplay // LocalSetAutoplay
}

// Why a LocalCommand was refused (LocalReply.Err wraps one of them).
var (
	// ErrInactive: no app has made us the active device (or the session
	// ended): there is nothing to control.
	ErrInactive = errors.New("no app is playing on this speaker")
	// ErrNoTrack: a session, but nothing loaded to pause, seek or skip.
	ErrNoTrack = errors.New("nothing is loaded")
	// ErrStarting: the app's choice is still loading; try again shortly.
	ErrStarting = errors.New("the music the app chose is still loading")
	// ErrOutOfRange: a position or volume outside what is allowed.
	ErrOutOfRange = errors.New("value out of range")
	// ErrUnknownCommand: a Kind the machine does not know.
	ErrUnknownCommand = errors.New("unknown command")
)

// LocalReply answers a LocalCommand: Err is nil when it was carried out.
type LocalReply struct{ Err error }

func (LocalCommand) isEvent() {}
func (LocalReply) isEffect()  {}

// local carries out c with the app commands' handlers, so that both paths
// stay one behaviour; nil means done.
func (st *stepper) local(c LocalCommand) error {
	s := &st.s
	if c.Kind == LocalSetVolume {
		// The volume exists without a session (the device's own), so it is
		// always ours to set; without a connection the publish waits for
		// the next NEW_DEVICE, which carries it.
		if c.Volume > MaxVolume {
			return fmt.Errorf("volume %d: want 0..%d: %w", c.Volume, MaxVolume, ErrOutOfRange)
		}
		st.setVolume(int64(c.Volume), true)
		return nil
	}
	if c.Kind >= LocalSetName && c.Kind <= LocalSetAutoplay {
		return st.setting(c)
	}
	if c.Kind < LocalPlay || c.Kind > LocalSetVolume {
		return fmt.Errorf("%v: %w", c.Kind, ErrUnknownCommand)
	}
	if !s.active {
		return ErrInactive
	}
	var ok bool
	switch c.Kind {
	case LocalPlay:
		ok = st.resume()
	case LocalPause:
		ok = st.pause()
	case LocalNext:
		if st.starting() {
			return ErrStarting
		}
		ok = st.skipNext(&command{})
	case LocalPrevious:
		if st.starting() {
			return ErrStarting
		}
		// A remote's back button: restart a track under way, else the
		// previous one (the apps send allow_seeking for the same button).
		ok = st.skipPrev(&command{Options: &commandOptions{AllowSeeking: true}})
	case LocalSeek:
		// An app's seek beyond the end is clamped; ours is refused, so a
		// bad value gets a clear error and changes nothing. The duration
		// is unknown until the player has the track: then the player
		// clamps, as for the app.
		if c.PositionMs < 0 || s.durationMs > 0 && c.PositionMs > s.durationMs {
			return fmt.Errorf("position %d ms: want 0..%d: %w", c.PositionMs, s.durationMs, ErrOutOfRange)
		}
		p := c.PositionMs
		ok = st.seekTo(&command{Position: &p})
	}
	if !ok {
		return ErrNoTrack
	}
	st.changed()
	return nil
}

// setting changes the Config in place of the one given to New. The old
// Config is never written: a State's Clone shares it.
func (st *stepper) setting(c LocalCommand) error {
	cfg := *st.s.cfg
	switch c.Kind {
	case LocalSetName:
		if c.Name == "" {
			return fmt.Errorf("empty name: %w", ErrOutOfRange)
		}
		cfg.DeviceName = c.Name
	case LocalSetMaxVolume:
		if c.MaxVolume > MaxVolume {
			return fmt.Errorf("max volume %d: want 0..%d: %w", c.MaxVolume, MaxVolume, ErrOutOfRange)
		}
		cfg.MaxVolume = c.MaxVolume
	case LocalSetAutoplay:
		if c.Autoplay < AutoplayFollowApp || c.Autoplay > AutoplayOff {
			return fmt.Errorf("autoplay %d: %w", c.Autoplay, ErrOutOfRange)
		}
		cfg.Autoplay = c.Autoplay
	}
	cfg.withDefaults()
	st.s.cfg = &cfg
	switch c.Kind {
	case LocalSetName:
		// The apps take a new name from a full device announcement.
		st.publish = connectpb.PutStateReason_NEW_DEVICE
	case LocalSetMaxVolume:
		// A volume above the new cap comes down to it, on the player
		// (a hardware mixer) as in the apps.
		if st.s.volume > cfg.MaxVolume {
			st.setVolume(int64(cfg.MaxVolume), true)
		}
	}
	return nil
}

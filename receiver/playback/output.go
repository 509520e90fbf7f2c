package playback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/speakerbox/speakerbox/audio/player"
	"github.com/speakerbox/speakerbox/gpio/amp"
	"github.com/speakerbox/speakerbox/receiver/hooks"
)

// OutputCloser is the one thing Output asks of the player: close a device
// kept open on silence (keep_output_open), before the amplifier drops.
type OutputCloser interface {
	CloseOutput()
}

// OutputConfig sets up an Output.
type OutputConfig struct {
	// Relay configures the amplifier switch; nil means nothing is
	// switched. Output sets BeforeOff and OnChange itself.
	Relay *amp.Config
	// Hooks runs on_event; nil means no hooks.
	Hooks *hooks.Runner
	// CloseWait bounds the wait for the player to close its output at the
	// idle timeout before the power drops anyway; zero means 2s.
	CloseWait time.Duration
	Log       *slog.Logger
}

// Output sits between the player and the amplifier, for `speakerbox play`
// and the receiver alike. As the player's audio.Gate it switches the
// amplifier on and waits for the warm-up and the "sink running" hook before
// the device opens; it starts the idle timeout when playback pauses or
// stops; when the timeout fires it has the player close its output, reports
// "sink closed", and only then lets the relay drop. Player and session
// events become hook events.
type Output struct {
	relay *amp.Relay // nil: no amplifier switching
	hooks *hooks.Runner
	log   *slog.Logger

	closeWait time.Duration

	mu        sync.Mutex
	player    OutputCloser
	sink      string        // last SINK_STATUS reported; "" before the first open
	final     bool          // the next close is for good: idle timeout or shutdown
	closed    chan struct{} // beforeOff waits on it for AfterClose
	lastTrack string        // for OLD_TRACK_ID
	describe  func(trackID string) (hooks.Track, bool)
}

// NewOutput drives the amplifier off (it is never assumed off) and returns
// the glue.
func NewOutput(ctx context.Context, cfg OutputConfig) (*Output, error) {
	o := &Output{hooks: cfg.Hooks, log: cfg.Log, closeWait: cfg.CloseWait}
	if o.closeWait <= 0 {
		o.closeWait = 2 * time.Second
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Relay != nil {
		rc := *cfg.Relay
		if rc.BeforeOff != nil || rc.OnChange != nil {
			return nil, errors.New("receiver output: the relay's BeforeOff and OnChange belong to Output")
		}
		rc.BeforeOff = o.beforeOff
		rc.OnChange = o.ampChanged
		if rc.Log == nil {
			rc.Log = o.log
		}
		r, err := amp.New(ctx, rc)
		if err != nil {
			return nil, err
		}
		o.relay = r
	}
	return o, nil
}

// Attach hands Output the player whose output it closes on the idle
// timeout. The player is built with Output as its gate, hence the two steps.
func (o *Output) Attach(p OutputCloser) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.player = p
}

// SetAmpTimings changes the amplifier's warm-up and idle timeout from its
// next switch on (amp.Relay.SetTimings). Without a relay there is nothing
// to time, and it returns ErrNoRelay.
func (o *Output) SetAmpTimings(warmup, idleTimeout time.Duration) error {
	if o.relay == nil {
		return ErrNoRelay
	}
	return o.relay.SetTimings(warmup, idleTimeout)
}

// ErrNoRelay: the speaker switches no amplifier.
var ErrNoRelay = errors.New("no amplifier relay is configured")

// Describe sets where track_changed finds what it says of a track (name,
// artists, album, covers, number, URI): the receiver's track player knows
// that, the audio player's events carry only the id. Without it, or for
// an id it does not know, track_changed has the id and the duration.
func (o *Output) Describe(f func(trackID string) (hooks.Track, bool)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.describe = f
}

// BeforeOpen implements audio.Gate: amplifier on and warmed up (at once if
// it is on already), then the blocking "sink running" hook.
func (o *Output) BeforeOpen(ctx context.Context) error {
	if o.relay != nil {
		if err := o.relay.Request(ctx); err != nil {
			// Whatever happens next, a relay switched on for this open must
			// not stay on for ever.
			o.relay.Idle()
			return fmt.Errorf("switch the amplifier on: %w", err)
		}
	}
	o.mu.Lock()
	o.final = false
	o.releaseCloseWaitLocked() // opening: no close is coming
	wait := o.sinkLocked(ctx, hooks.SinkRunning)
	o.mu.Unlock()
	wait()
	return nil
}

// AfterClose implements audio.Gate: the device is closed. Unless Output
// asked for it (idle timeout, shutdown) the player will reopen it, between
// tracks or on resume: "temporarily_closed", and nothing switches.
func (o *Output) AfterClose() {
	o.mu.Lock()
	status := hooks.SinkTemporarilyClosed
	if o.final {
		status = hooks.SinkClosed
	}
	wait := o.sinkLocked(context.Background(), status)
	o.mu.Unlock()
	wait()
	o.mu.Lock()
	o.releaseCloseWaitLocked()
	o.mu.Unlock()
}

func (o *Output) releaseCloseWaitLocked() {
	if o.closed != nil {
		close(o.closed)
		o.closed = nil
	}
}

// beforeOff is the relay's BeforeOff: the output closes before the power
// drops.
func (o *Output) beforeOff() {
	o.mu.Lock()
	o.final = true
	p := o.player
	var closed chan struct{}
	if p != nil && o.sink == hooks.SinkRunning {
		closed = make(chan struct{})
		o.closed = closed
	}
	o.mu.Unlock()
	if p != nil {
		// The player closes asynchronously: wait for AfterClose (and its
		// "closed" hook), but not for ever. A player that opens instead
		// (sound resumed) releases the wait too, and the relay keeps on.
		p.CloseOutput()
	}
	if closed != nil {
		t := time.NewTimer(o.closeWait)
		select {
		case <-closed:
		case <-t.C:
			o.log.Warn("player did not close its output in time; switching the amplifier off anyway", "waited", o.closeWait)
		}
		t.Stop()
	}
	// A device closed earlier (paused without keep_output_open) was
	// "temporarily closed"; now it is closed for good, as librespot says.
	o.mu.Lock()
	wait := func() {}
	if o.sink == hooks.SinkTemporarilyClosed {
		wait = o.sinkLocked(context.Background(), hooks.SinkClosed)
	}
	o.mu.Unlock()
	wait()
}

// sinkLocked records a new sink status and, if it changed, queues its hook
// while o.mu is held, so that the hooks' queue has the statuses in the
// order they were set, whichever goroutine set them (the player's, the
// relay's idle timer). The caller unlocks, then calls wait: sink hooks
// hold their caller until they have run, as librespot's do ("running"
// ends before the device opens). A failure is logged by the runner and
// never stops the sound.
func (o *Output) sinkLocked(ctx context.Context, status string) (wait func()) {
	if o.sink == status {
		return func() {}
	}
	o.sink = status
	if o.hooks == nil {
		return func() {}
	}
	w := o.hooks.Queue(ctx, hooks.SinkEvent(status))
	return func() { _ = w() }
}

func (o *Output) ampChanged(on bool) { o.emit(hooks.Amp(on)) }

func (o *Output) emit(ev hooks.Event) {
	if o.hooks != nil {
		o.hooks.Emit(ev)
	}
}

// Observe turns a player event into hook events and relay actions. It is the
// player's Config.Observe (set it with Gate): it runs on the player's output
// goroutine, the one that calls the gate, so hook events of the gate
// (amp_on, sink) and of the player (track_changed, playing, paused, ...)
// are queued by one goroutine in the order they happened: amp_on and sink
// "running" before the track_changed and playing of the sound they let
// out; paused before the sink closes for it. It never
// blocks. The owner reading Player.Events must not pass events on here as
// well.
func (o *Output) Observe(ev player.Event) {
	dur := time.Duration(ev.DurationMs) * time.Millisecond
	pos := time.Duration(ev.PositionMs) * time.Millisecond
	switch ev.Type {
	case player.TrackStarted:
		o.mu.Lock()
		old := o.lastTrack
		o.lastTrack = ev.TrackID
		describe := o.describe
		o.mu.Unlock()
		if old != ev.TrackID {
			t := hooks.Track{ID: ev.TrackID, Duration: dur}
			if describe != nil {
				if d, ok := describe(ev.TrackID); ok {
					t = d
					t.ID = ev.TrackID
					if dur > 0 {
						t.Duration = dur // what is decoded beats the catalogue
					}
				}
			}
			t.OldID = old
			o.TrackChanged(t)
		} else if pos > 0 {
			o.emit(hooks.SeekedEvent(ev.TrackID, pos))
		}
		o.Playing(ev.TrackID, pos, dur)
	case player.TrackEnded:
		o.emit(hooks.TrackEvent(hooks.EndOfTrack, ev.TrackID))
	case player.TrackError:
		o.emit(hooks.TrackEvent(hooks.Unavailable, ev.TrackID))
	case player.Paused:
		o.Paused(ev.TrackID, pos, dur)
	case player.Resumed:
		o.Playing(ev.TrackID, pos, dur)
	case player.EndOfQueue:
		o.Stopped(ev.TrackID)
	case player.OutputError:
		// The player paused itself; the amplifier need not wait on.
		o.idle()
	}
}

// Playing: sound flows (started, resumed, or after a seek; Observe calls it
// for TrackStarted and Resumed). A running idle timer is cancelled: resume
// within the timeout needs no warm-up.
func (o *Output) Playing(trackID string, position, duration time.Duration) {
	if o.relay != nil {
		o.relay.Active()
	}
	o.emit(hooks.Position(hooks.Playing, trackID, position, duration))
}

// Paused (Observe calls it for the player's Paused) starts the idle
// timeout.
func (o *Output) Paused(trackID string, position, duration time.Duration) {
	o.emit(hooks.Position(hooks.Paused, trackID, position, duration))
	o.idle()
}

// Stopped (nothing more to play, or the session let go) starts the idle
// timeout.
func (o *Output) Stopped(trackID string) {
	o.emit(hooks.TrackEvent(hooks.Stopped, trackID))
	o.idle()
}

// TrackChanged reports a new track. Between tracks nothing switches.
func (o *Output) TrackChanged(t hooks.Track) { o.emit(hooks.TrackChangedEvent(t)) }

// Event passes any other hook event on (end_of_track, seeked,
// volume_changed, ...). Nothing switches.
func (o *Output) Event(ev hooks.Event) { o.emit(ev) }

// Session reports a session that began or ended; an ended one starts the
// idle timeout.
func (o *Output) Session(connected bool, connectionID, userName string) {
	o.emit(hooks.Session(connected, connectionID, userName))
	if !connected {
		o.idle()
	}
}

func (o *Output) idle() { o.Idle() }

// Idle starts the idle timeout without a hook event (the owner has nothing
// more to play).
func (o *Output) Idle() {
	if o.relay != nil {
		o.relay.Idle()
	}
}

// WhenOff is closed once the amplifier is off (at once without a relay).
func (o *Output) WhenOff() <-chan struct{} {
	if o.relay == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return o.relay.WhenOff()
}

// Flush waits until the hook events queued so far have run, or ctx ends
// (a command that ends by itself, before Close).
func (o *Output) Flush(ctx context.Context) error {
	if o.hooks == nil {
		return nil
	}
	return o.hooks.Flush(ctx)
}

// Close is the orderly shutdown: the player's output closed, "sink closed",
// the amplifier off, then the queued hooks (amp_off among them) run within
// ctx.
func (o *Output) Close(ctx context.Context) error {
	var errs []error
	if o.relay != nil {
		errs = append(errs, o.relay.Off(ctx))
	} else {
		o.beforeOff()
	}
	o.mu.Lock()
	wait := func() {}
	if o.sink == hooks.SinkRunning {
		wait = o.sinkLocked(ctx, hooks.SinkClosed)
	}
	o.sink = hooks.SinkClosed
	o.mu.Unlock()
	wait()
	if o.hooks != nil {
		errs = append(errs, o.hooks.Close(ctx))
	}
	return errors.Join(errs...)
}

// ForceOff is for the exit guard (panic, fatal error, a shutdown that hangs):
// the amplifier off at once, without calling into the player.
func (o *Output) ForceOff() {
	if o.relay != nil {
		if err := o.relay.ForceOff(); err != nil {
			o.log.Error("amplifier emergency off failed", "err", err)
		}
	}
}

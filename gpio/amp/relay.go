package amp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrClosed is returned by Request after Off or ForceOff: the relay stays off
// for good.
var ErrClosed = errors.New("amplifier relay is shut down")

// Config sets up a Relay.
type Config struct {
	// Power switches the amplifier (required).
	Power Switch
	// Mute is an optional mute/standby line: asserted means silent. It is
	// asserted before the power drops and released only after the warm-up.
	Mute Switch
	// Warmup is how long audio waits after switching on, so the amplifier
	// does not pop.
	Warmup time.Duration
	// IdleTimeout is how long the amplifier stays on after Idle. Playback
	// resumed within it finds the amplifier on, with no new warm-up.
	IdleTimeout time.Duration
	// BeforeOff runs before the power drops (idle timeout or Off), outside
	// any lock: whoever owns the audio closes its output there, so the
	// amplifier never switches with sound on it. It must not call Off.
	BeforeOff func()
	// OnChange is told after the amplifier was switched on or off (the
	// amp_on and amp_off hooks). It must not block.
	OnChange func(on bool)
	// Clock is the time source; nil means the wall clock.
	Clock Clock
	Log   *slog.Logger
}

type state int

const (
	stateOff           state = iota
	stateSwitchingOn         // power being switched on, then the warm-up
	stateOn                  // audio may play
	stateIdle                // on, idle timer running
	stateClosingOutput       // idle timeout: BeforeOff runs; a request now keeps the amplifier on
	stateSwitchingOff        // mute and power off in progress
	stateClosed              // Off or ForceOff: off for good
)

var stateNames = [...]string{"off", "switching on", "on", "idle", "closing output", "switching off", "shut down"}

func (s state) String() string { return stateNames[s] }

// Relay is the amplifier power state machine: off at start, on when playback
// is requested (audio waits for the warm-up), off after an idle timeout, and
// off on shutdown. It is safe for concurrent use.
type Relay struct {
	cfg   Config
	clock Clock
	log   *slog.Logger

	// io serialises the switches, so that a shutdown's "off" can never be
	// overtaken by a concurrent "on".
	io sync.Mutex

	mu            sync.Mutex
	state         state
	idleAfterWarm bool          // Idle came during the warm-up
	ready         *signal       // switching on has ended
	settled       chan struct{} // closed when switching off has ended
	offCh         chan struct{} // closed when the relay is next off (WhenOff)
	shutDown      bool          // Off or ForceOff has switched off: later calls do nothing
	stopTimer     func()        // the warm-up or idle timer, if armed
	warmup        time.Duration // Config.Warmup until SetTimings
	idleTimeout   time.Duration // Config.IdleTimeout until SetTimings
	gen           uint64        // invalidates a timer that fires after being cancelled
	timers        sync.WaitGroup

	stats relayStats // for Stats (stats.go)
}

// New returns a relay after driving it off explicitly (mute asserted, power
// off): the line's state at start is never assumed.
func New(ctx context.Context, cfg Config) (*Relay, error) {
	if cfg.Power == nil {
		return nil, errors.New("amplifier relay: no power switch configured")
	}
	if cfg.Warmup < 0 || cfg.IdleTimeout < 0 {
		return nil, fmt.Errorf("amplifier relay: negative warm-up %v or idle timeout %v", cfg.Warmup, cfg.IdleTimeout)
	}
	r := &Relay{cfg: cfg, clock: cfg.Clock, log: cfg.Log, warmup: cfg.Warmup, idleTimeout: cfg.IdleTimeout}
	if r.clock == nil {
		r.clock = RealClock{}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if err := r.driveOff(ctx); err != nil {
		return nil, fmt.Errorf("switch amplifier off at start: %w", err)
	}
	return r, nil
}

// Request switches the amplifier on if it is not, and returns once audio may
// play: after the warm-up, or at once if it is already on (an idle timer is
// cancelled). ctx bounds the wait; the relay finishes switching on even if
// ctx ends first.
func (r *Relay) Request(ctx context.Context) error {
	for {
		r.mu.Lock()
		switch r.state {
		case stateClosed:
			r.mu.Unlock()
			return ErrClosed
		case stateOn:
			r.mu.Unlock()
			return nil
		case stateIdle, stateClosingOutput:
			r.keepOnLocked()
			r.mu.Unlock()
			return nil
		case stateSwitchingOn:
			// A request that comes after an Idle cancels it.
			r.idleAfterWarm = false
			ready := r.ready
			r.mu.Unlock()
			return ready.wait(ctx)
		case stateSwitchingOff:
			settled := r.settled
			r.mu.Unlock()
			if err := wait(ctx, settled); err != nil {
				return err
			}
		case stateOff:
			r.state = stateSwitchingOn
			r.idleAfterWarm = false
			ready := newSignal()
			r.ready = ready
			r.mu.Unlock()
			if err := r.switchOn(ctx); err != nil {
				return err
			}
			return ready.wait(ctx)
		}
	}
}

// SetTimings changes the warm-up and the idle timeout (the owner's
// settings, while running). They count from the next switch: a warm-up
// or an idle timeout already under way keeps the time it started with.
func (r *Relay) SetTimings(warmup, idleTimeout time.Duration) error {
	if warmup < 0 || idleTimeout < 0 {
		return fmt.Errorf("amplifier relay: negative warm-up %v or idle timeout %v", warmup, idleTimeout)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warmup, r.idleTimeout = warmup, idleTimeout
	return nil
}

// Idle starts the idle timeout: pause, stop, end of playback, session end.
// It never blocks.
func (r *Relay) Idle() {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.state {
	case stateOn:
		r.state = stateIdle
		r.armTimerLocked(r.idleTimeout, r.expire)
		r.log.Debug("amplifier idle", "off_in", r.idleTimeout)
	case stateSwitchingOn:
		r.idleAfterWarm = true
	}
}

// Active says audio flows again (resumed on a device kept open): an idle
// timer is cancelled. Unlike Request it never blocks and never switches on.
func (r *Relay) Active() {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.state {
	case stateIdle, stateClosingOutput:
		r.keepOnLocked()
	case stateSwitchingOn:
		r.idleAfterWarm = false
	}
}

// keepOnLocked cancels an idle timeout, or one whose BeforeOff is still
// running (expire sees the new generation and leaves the power on). Not
// waiting for BeforeOff matters: it may be waiting for the very player that
// is asking for sound.
func (r *Relay) keepOnLocked() {
	r.cancelTimerLocked()
	r.state = stateOn
	r.log.Debug("amplifier kept on: playback resumed within the idle timeout")
}

// IsOn reports whether the power switch is (being) switched on.
func (r *Relay) IsOn() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state == stateSwitchingOn || r.state == stateOn || r.state == stateIdle || r.state == stateClosingOutput
}

// Off switches the amplifier off for good, for shutdown: BeforeOff runs
// first if it was on, then the mute line, then the power. It waits for the
// relay's timers to finish.
func (r *Relay) Off(ctx context.Context) error {
	r.mu.Lock()
	// In stateClosingOutput the idle timer's BeforeOff is running already
	// and expire gives up the switch-off to us; in stateSwitchingOff expire
	// finishes it and reports it.
	if r.shutDown {
		r.mu.Unlock()
		return nil
	}
	closing := r.state == stateClosingOutput
	wasOn := closing || r.state == stateSwitchingOn || r.state == stateOn || r.state == stateIdle
	r.closeLocked()
	r.mu.Unlock()
	if wasOn && !closing && r.cfg.BeforeOff != nil {
		r.cfg.BeforeOff()
	}
	err := r.shutOff(ctx)
	r.timers.Wait()
	if wasOn {
		r.notify(false)
	}
	return err
}

// ForceOff is the emergency stop for a panic or a fatal error: it mutes and
// drops the power at once, without BeforeOff and without waiting for
// anything but a switch operation in flight. The relay stays off for good.
func (r *Relay) ForceOff() error {
	r.mu.Lock()
	if r.shutDown {
		// After an orderly Off (the exit guard runs on every exit): the
		// amplifier commands need not run twice.
		r.mu.Unlock()
		return nil
	}
	r.closeLocked()
	r.mu.Unlock()
	return r.shutOff(context.Background())
}

func (r *Relay) shutOff(ctx context.Context) error {
	err := r.driveOff(ctx)
	if err == nil {
		r.mu.Lock()
		r.shutDown = true
		r.mu.Unlock()
	}
	return err
}

func (r *Relay) closeLocked() {
	r.cancelTimerLocked()
	if r.state == stateSwitchingOn {
		r.closeReadyLocked(ErrClosed)
	}
	r.state = stateClosed
	r.signalOffLocked()
}

// WhenOff returns a channel that is closed once the amplifier is off: at
// once if it is off now, else after the idle timeout or a shutdown. A
// command that plays a file and exits waits on it, so the relay goes through
// the same cycle as under the receiver.
func (r *Relay) WhenOff() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == stateOff || r.state == stateClosed {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	if r.offCh == nil {
		r.offCh = make(chan struct{})
	}
	return r.offCh
}

func (r *Relay) signalOffLocked() {
	if r.offCh != nil {
		close(r.offCh)
		r.offCh = nil
	}
}

// switchOn runs in the goroutine of the Request that found the relay off.
func (r *Relay) switchOn(ctx context.Context) error {
	if err := r.setPower(ctx, true); err != nil {
		r.log.Error("amplifier failed to switch on", "err", err)
		// Leave it in a known state: off.
		_ = r.setPower(context.WithoutCancel(ctx), false)
		r.mu.Lock()
		if r.state == stateSwitchingOn {
			r.state = stateOff
			r.closeReadyLocked(err)
			r.signalOffLocked()
		}
		r.mu.Unlock()
		return err
	}
	r.mu.Lock()
	warmup := r.warmup
	r.mu.Unlock()
	r.log.Info("amplifier on", "warmup", warmup)
	r.notify(true)
	r.mu.Lock()
	if r.state != stateSwitchingOn {
		r.mu.Unlock()
		return ErrClosed
	}
	if warmup > 0 {
		r.armTimerLocked(warmup, r.warmedUp)
		r.mu.Unlock()
		return nil
	}
	gen := r.gen
	r.mu.Unlock()
	r.warmedUp(gen)
	return nil
}

// warmedUp ends switching on: the mute line is released and audio may play.
func (r *Relay) warmedUp(gen uint64) {
	if r.cfg.Mute != nil {
		if err := r.setMute(context.Background(), false); err != nil {
			r.log.Error("amplifier failed to unmute", "err", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != stateSwitchingOn || gen != r.gen {
		return
	}
	r.stopTimer = nil
	r.state = stateOn
	r.closeReadyLocked(nil)
	r.log.Debug("amplifier warmed up")
	if r.idleAfterWarm {
		r.state = stateIdle
		r.armTimerLocked(r.idleTimeout, r.expire)
	}
}

// expire is the idle timer: audio is closed, then the amplifier goes off.
func (r *Relay) expire(gen uint64) {
	r.mu.Lock()
	if r.state != stateIdle || gen != r.gen {
		r.mu.Unlock()
		return
	}
	r.stopTimer = nil
	r.state = stateClosingOutput
	after := r.idleTimeout
	r.mu.Unlock()

	r.log.Info("amplifier idle timeout", "after", after)
	if r.cfg.BeforeOff != nil {
		r.cfg.BeforeOff()
	}
	r.mu.Lock()
	if r.state != stateClosingOutput || gen != r.gen {
		// Playback resumed, or Off took over.
		r.mu.Unlock()
		return
	}
	r.state = stateSwitchingOff
	settled := make(chan struct{})
	r.settled = settled
	r.mu.Unlock()
	defer close(settled)

	err := r.driveOff(context.Background())
	if err == nil {
		r.log.Info("amplifier off")
	}
	// Told before WhenOff is ready: whoever waits for "off" and then for
	// the hooks' queue finds amp_off in it.
	r.notify(false)
	r.mu.Lock()
	if r.state == stateSwitchingOff {
		r.state = stateOff
		r.signalOffLocked()
	}
	r.mu.Unlock()
}

// driveOff asserts the mute line, then drops the power.
func (r *Relay) driveOff(ctx context.Context) error {
	var muteErr error
	if r.cfg.Mute != nil {
		if muteErr = r.setMute(ctx, true); muteErr != nil {
			r.log.Error("amplifier failed to mute", "err", muteErr)
		}
	}
	err := r.setPower(ctx, false)
	if err != nil {
		r.log.Error("amplifier failed to switch off", "err", err)
	}
	return errors.Join(err, muteErr)
}

// setPower and setMute run one switch operation. Power on is refused once
// the relay is shut down, checked under the io lock so that it cannot slip
// in after the shutdown's power off.
func (r *Relay) setPower(ctx context.Context, on bool) error {
	return r.set(ctx, r.cfg.Power, on, on)
}

func (r *Relay) setMute(ctx context.Context, muted bool) error {
	return r.set(ctx, r.cfg.Mute, muted, false)
}

func (r *Relay) set(ctx context.Context, s Switch, on, refuseIfClosed bool) error {
	r.io.Lock()
	defer r.io.Unlock()
	if refuseIfClosed {
		r.mu.Lock()
		closed := r.state == stateClosed
		r.mu.Unlock()
		if closed {
			return ErrClosed
		}
	}
	return s.Set(ctx, on)
}

func (r *Relay) notify(on bool) {
	r.stats.note(on, r.clock.Now())
	if r.cfg.OnChange != nil {
		r.cfg.OnChange(on)
	}
}

func (r *Relay) armTimerLocked(d time.Duration, f func(gen uint64)) {
	r.cancelTimerLocked()
	gen := r.gen
	r.timers.Add(1)
	stop := r.clock.AfterFunc(d, func() {
		defer r.timers.Done()
		f(gen)
	})
	r.stopTimer = func() {
		if stop() {
			r.timers.Done()
		}
	}
}

func (r *Relay) cancelTimerLocked() {
	if r.stopTimer != nil {
		r.stopTimer()
		r.stopTimer = nil
	}
	r.gen++
}

func (r *Relay) closeReadyLocked(err error) {
	r.ready.fire(err)
}

// signal is a one-shot event with a result. fire is called under Relay.mu;
// the result is read only after done is closed.
type signal struct {
	done  chan struct{}
	err   error
	fired bool
}

func newSignal() *signal { return &signal{done: make(chan struct{})} }

func (s *signal) fire(err error) {
	if !s.fired {
		s.fired, s.err = true, err
		close(s.done)
	}
}

func (s *signal) wait(ctx context.Context) error {
	if err := wait(ctx, s.done); err != nil {
		return err
	}
	return s.err
}

func wait(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for the amplifier: %w", context.Cause(ctx))
	}
}

package amp

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/speakerbox/speakerbox/gpio/fakeclock"
)

const (
	warmup = 500 * time.Millisecond
	idle   = 5 * time.Minute
)

// journal records every switch operation and hook call in order, so tests
// can check what happened before what.
type journal struct {
	mu      sync.Mutex
	entries []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, fmt.Sprintf(format, args...))
}

func (j *journal) take() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	e := j.entries
	j.entries = nil
	return e
}

// recPin is periph's fake pin with every Out written to a journal.
type recPin struct {
	*gpiotest.Pin
	j *journal
}

func (p recPin) Out(l gpio.Level) error {
	p.j.add("%s=%s", p.N, l)
	return p.Pin.Out(l)
}

type rig struct {
	t     *testing.T
	clock *fakeclock.Clock
	power *gpiotest.Pin
	mute  *gpiotest.Pin
	j     *journal
	relay *Relay
}

func newRig(t *testing.T, activeLow, withMute bool) *rig {
	t.Helper()
	r := &rig{
		t:     t,
		clock: fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		// Both lines start at the level that would mean "on" (and
		// "unmuted"): New must drive them, not assume them.
		power: &gpiotest.Pin{N: "power", L: gpio.Level(!activeLow)},
		mute:  &gpiotest.Pin{N: "mute", L: gpio.Level(activeLow)},
		j:     &journal{},
	}
	cfg := Config{
		Power:       PinSwitch{Pin: recPin{r.power, r.j}, ActiveLow: activeLow},
		Warmup:      warmup,
		IdleTimeout: idle,
		Clock:       r.clock,
		BeforeOff:   func() { r.j.add("before-off") },
		OnChange:    func(on bool) { r.j.add("changed on=%v", on) },
	}
	if withMute {
		cfg.Mute = PinSwitch{Pin: recPin{r.mute, r.j}, ActiveLow: activeLow}
	}
	relay, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.relay = relay
	return r
}

// request starts Request in a goroutine and returns its result channel.
func (r *rig) request() <-chan error {
	done := make(chan error, 1)
	go func() { done <- r.relay.Request(context.Background()) }()
	return done
}

func (r *rig) wantPower(on bool, activeLow bool) {
	r.t.Helper()
	want := gpio.Level(on != activeLow)
	if got := r.power.Read(); got != want {
		r.t.Fatalf("power line = %s, want %s (on=%v activeLow=%v)", got, want, on, activeLow)
	}
}

func notDone(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("Request returned (%v) %s", err, what)
	default:
	}
}

func TestRelayFullSequence(t *testing.T) {
	for _, activeLow := range []bool{false, true} {
		t.Run(fmt.Sprintf("activeLow=%v", activeLow), func(t *testing.T) {
			r := newRig(t, activeLow, false)
			// Off at start, driven explicitly.
			r.wantPower(false, activeLow)
			offLevel := gpio.Level(activeLow)
			if got := r.j.take(); !slices.Equal(got, []string{"power=" + offLevel.String()}) {
				t.Fatalf("at start: %q", got)
			}

			// Play: on at once, audio waits for the warm-up.
			done := r.request()
			r.clock.WaitForTimers(1)
			r.wantPower(true, activeLow)
			r.clock.Advance(warmup - time.Millisecond)
			notDone(t, done, "before the warm-up ended")
			r.clock.Advance(time.Millisecond)
			if err := <-done; err != nil {
				t.Fatal(err)
			}

			// Pause, resume within the timeout: stays on, no new warm-up.
			r.relay.Idle()
			r.clock.Advance(idle - time.Second)
			r.wantPower(true, activeLow)
			if err := r.relay.Request(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := r.clock.Pending(); n != 0 {
				t.Fatalf("%d timers pending after resume, want none (no warm-up, idle timer cancelled)", n)
			}
			r.clock.Advance(time.Hour)
			r.wantPower(true, activeLow)

			// Pause, timeout: off.
			r.relay.Idle()
			r.clock.Advance(idle - time.Millisecond)
			r.wantPower(true, activeLow)
			r.clock.Advance(time.Millisecond)
			r.wantPower(false, activeLow)

			// Play again: a new warm-up.
			done = r.request()
			r.clock.WaitForTimers(1)
			r.wantPower(true, activeLow)
			notDone(t, done, "before the second warm-up")
			r.clock.Advance(warmup)
			if err := <-done; err != nil {
				t.Fatal(err)
			}

			// Shutdown: off, and stays off.
			if err := r.relay.Off(context.Background()); err != nil {
				t.Fatal(err)
			}
			r.wantPower(false, activeLow)
			if err := r.relay.Request(context.Background()); !errors.Is(err, ErrClosed) {
				t.Fatalf("Request after Off = %v, want ErrClosed", err)
			}
			r.wantPower(false, activeLow)

			onLevel := gpio.Level(!activeLow)
			want := []string{
				"power=" + onLevel.String(), "changed on=true",
				"before-off", "power=" + offLevel.String(), "changed on=false",
				"power=" + onLevel.String(), "changed on=true",
				"before-off", "power=" + offLevel.String(), "changed on=false",
			}
			if got := r.j.take(); !slices.Equal(got, want) {
				t.Fatalf("sequence\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestRelayMuteBeforeOff(t *testing.T) {
	for _, activeLow := range []bool{false, true} {
		t.Run(fmt.Sprintf("activeLow=%v", activeLow), func(t *testing.T) {
			r := newRig(t, activeLow, true)
			asserted, released := gpio.Level(!activeLow).String(), gpio.Level(activeLow).String()
			if got, want := r.j.take(), []string{"mute=" + asserted, "power=" + released}; !slices.Equal(got, want) {
				t.Fatalf("at start got %q, want %q", got, want)
			}

			done := r.request()
			r.clock.WaitForTimers(1)
			// Muted during the whole warm-up.
			if got, want := r.j.take(), []string{"power=" + asserted, "changed on=true"}; !slices.Equal(got, want) {
				t.Fatalf("switching on got %q, want %q", got, want)
			}
			r.clock.Advance(warmup)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got, want := r.j.take(), []string{"mute=" + released}; !slices.Equal(got, want) {
				t.Fatalf("after warm-up got %q, want %q", got, want)
			}

			r.relay.Idle()
			r.clock.Advance(idle)
			want := []string{"before-off", "mute=" + asserted, "power=" + released, "changed on=false"}
			if got := r.j.take(); !slices.Equal(got, want) {
				t.Fatalf("switching off got %q, want %q", got, want)
			}

			// Shutdown while on: the same order.
			done = r.request()
			r.clock.WaitForTimers(1)
			r.clock.Advance(warmup)
			<-done
			r.j.take()
			if err := r.relay.Off(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := r.j.take(); !slices.Equal(got, want) {
				t.Fatalf("Off got %q, want %q", got, want)
			}
		})
	}
}

func TestRelayIdleDuringWarmup(t *testing.T) {
	r := newRig(t, false, false)
	done := r.request()
	r.clock.WaitForTimers(1)
	r.relay.Idle() // e.g. paused before the first sample
	r.clock.Advance(warmup)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.wantPower(true, false)
	r.clock.Advance(idle)
	r.wantPower(false, false)
}

func TestRelayConcurrentRequestsSwitchOnce(t *testing.T) {
	r := newRig(t, false, false)
	r.j.take()
	var dones []<-chan error
	for range 5 {
		dones = append(dones, r.request())
	}
	r.clock.WaitForTimers(1)
	r.clock.Advance(warmup)
	for _, d := range dones {
		if err := <-d; err != nil {
			t.Fatal(err)
		}
	}
	if got, want := r.j.take(), []string{"power=High", "changed on=true"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestRelayOffDuringWarmupReleasesWaiters(t *testing.T) {
	r := newRig(t, false, true)
	done := r.request()
	r.clock.WaitForTimers(1)
	if err := r.relay.Off(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Request = %v, want ErrClosed", err)
	}
	r.wantPower(false, false)
	if r.mute.Read() != gpio.High {
		t.Fatal("mute line released after Off")
	}
	if n := r.clock.Pending(); n != 0 {
		t.Fatalf("%d timers left after Off", n)
	}
}

func TestRelayRequestContextEnds(t *testing.T) {
	r := newRig(t, false, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.relay.Request(ctx) }()
	r.clock.WaitForTimers(1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Request = %v, want context.Canceled", err)
	}
	// The relay still finishes switching on; the next Request is immediate.
	r.clock.Advance(warmup)
	if err := r.relay.Request(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.wantPower(true, false)
}

func TestRelayForceOff(t *testing.T) {
	r := newRig(t, false, true)
	done := r.request()
	r.clock.WaitForTimers(1)
	r.clock.Advance(warmup)
	<-done
	r.j.take()
	if err := r.relay.ForceOff(); err != nil {
		t.Fatal(err)
	}
	// No BeforeOff: a panicking program must not call back into audio.
	if got, want := r.j.take(), []string{"mute=High", "power=Low"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := r.relay.Request(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Request after ForceOff = %v", err)
	}
}

func TestRelaySwitchFailure(t *testing.T) {
	fail := errors.New("relay board unplugged")
	var mu sync.Mutex
	broken := true
	var calls []bool
	sw := SwitchFunc(func(_ context.Context, on bool) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, on)
		if on && broken {
			return fail
		}
		return nil
	})
	relay, err := New(context.Background(), Config{Power: sw, Warmup: 0, IdleTimeout: idle, Clock: fakeclock.New(time.Time{})})
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Request(context.Background()); !errors.Is(err, fail) {
		t.Fatalf("Request = %v, want %v", err, fail)
	}
	if relay.IsOn() {
		t.Fatal("relay thinks it is on after a failed switch")
	}
	mu.Lock()
	broken = false
	mu.Unlock()
	if err := relay.Request(context.Background()); err != nil {
		t.Fatalf("retry: %v", err)
	}
	// start off, failed on, off again to be sure, on.
	if want := []bool{false, true, false, true}; !slices.Equal(calls, want) {
		t.Fatalf("switch calls %v, want %v", calls, want)
	}
}

func TestRelayZeroIdleTimeout(t *testing.T) {
	clock := fakeclock.New(time.Time{})
	pin := &gpiotest.Pin{N: "power"}
	relay, err := New(context.Background(), Config{Power: PinSwitch{Pin: pin}, IdleTimeout: 0, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Request(context.Background()); err != nil {
		t.Fatal(err)
	}
	if pin.Read() != gpio.High {
		t.Fatal("not on")
	}
	relay.Idle()
	clock.Advance(0)
	if pin.Read() != gpio.Low {
		t.Fatal("not off after a zero idle timeout")
	}
}

func TestRelayConfigErrors(t *testing.T) {
	if _, err := New(context.Background(), Config{}); err == nil {
		t.Fatal("no power switch accepted")
	}
	pin := &gpiotest.Pin{N: "power", L: gpio.High}
	if _, err := New(context.Background(), Config{Power: PinSwitch{Pin: pin}, Warmup: -time.Second}); err == nil {
		t.Fatal("negative warm-up accepted")
	}
	if pin.Read() != gpio.High {
		t.Fatal("a rejected configuration touched the line")
	}
}

// The player may ask for sound (BeforeOpen -> Request) while the idle
// timeout's BeforeOff waits for that same player to close its output. The
// request must not wait for BeforeOff, or the two deadlock.
func TestRelayRequestDuringBeforeOffKeepsOn(t *testing.T) {
	clock := fakeclock.New(time.Time{})
	pin := &gpiotest.Pin{N: "power"}
	j := &journal{}
	var relay *Relay
	resumes := 1
	relay, err := New(context.Background(), Config{
		Power: PinSwitch{Pin: recPin{pin, j}}, IdleTimeout: idle, Clock: clock,
		BeforeOff: func() {
			j.add("before-off")
			if resumes == 0 {
				return
			}
			resumes--
			if err := relay.Request(context.Background()); err != nil {
				t.Errorf("Request during BeforeOff: %v", err)
			}
			j.add("requested")
		},
		OnChange: func(on bool) { j.add("changed on=%v", on) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Request(context.Background()); err != nil {
		t.Fatal(err)
	}
	relay.Idle()
	clock.Advance(idle)
	if pin.Read() != gpio.High || !relay.IsOn() {
		t.Fatal("switched off although playback resumed during BeforeOff")
	}
	want := []string{"power=Low", "power=High", "changed on=true", "before-off", "requested"}
	if got := j.take(); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	// It is a normal "on": the next idle timeout switches off.
	relay.Idle()
	clock.Advance(idle)
	if pin.Read() != gpio.Low {
		t.Fatal("not off after the next idle timeout")
	}
}

func TestRelayActiveCancelsIdleWithoutSwitching(t *testing.T) {
	r := newRig(t, false, false)
	r.relay.Active() // off: nothing happens
	r.wantPower(false, false)
	done := r.request()
	r.clock.WaitForTimers(1)
	r.clock.Advance(warmup)
	<-done
	r.relay.Idle()
	r.clock.Advance(idle / 2)
	r.relay.Active()
	r.clock.Advance(idle)
	r.wantPower(true, false)
}

func TestRelayOffDuringBeforeOff(t *testing.T) {
	clock := fakeclock.New(time.Time{})
	pin := &gpiotest.Pin{N: "power"}
	j := &journal{}
	var relay *Relay
	offDone := make(chan error, 1)
	relay, err := New(context.Background(), Config{
		Power: PinSwitch{Pin: recPin{pin, j}}, IdleTimeout: idle, Clock: clock,
		BeforeOff: func() {
			j.add("before-off")
			// Shutdown arrives while the output is being closed.
			go func() { offDone <- relay.Off(context.Background()) }()
			for relay.IsOn() {
				runtime.Gosched()
			}
		},
		OnChange: func(on bool) { j.add("changed on=%v", on) },
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = relay.Request(context.Background())
	j.take()
	relay.Idle()
	clock.Advance(idle)
	if err := <-offDone; err != nil {
		t.Fatal(err)
	}
	if got, want := j.take(), []string{"before-off", "power=Low", "changed on=false"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q (BeforeOff and amp_off once each)", got, want)
	}
}

func TestRelayWhenOff(t *testing.T) {
	r := newRig(t, false, false)
	select {
	case <-r.relay.WhenOff():
	default:
		t.Fatal("WhenOff not ready while off")
	}
	done := r.request()
	r.clock.WaitForTimers(1)
	off := r.relay.WhenOff()
	r.clock.Advance(warmup)
	<-done
	r.relay.Idle()
	r.clock.Advance(idle - time.Millisecond)
	select {
	case <-off:
		t.Fatal("WhenOff ready before the idle timeout")
	default:
	}
	r.clock.Advance(time.Millisecond)
	select {
	case <-off:
	default:
		t.Fatal("WhenOff not ready after the idle timeout")
	}
	r.wantPower(false, false)
}

func TestRelayOffOnce(t *testing.T) {
	r := newRig(t, false, true)
	done := r.request()
	r.clock.WaitForTimers(1)
	r.clock.Advance(warmup)
	<-done
	r.j.take()
	if err := r.relay.Off(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The exit guard's ForceOff and a second Off after an orderly Off do
	// not switch again (amp_off_command would run twice).
	if err := r.relay.ForceOff(); err != nil {
		t.Fatal(err)
	}
	if err := r.relay.Off(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := r.j.take(), []string{"before-off", "mute=High", "power=Low", "changed on=false"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// OnChange(false) is told before WhenOff is ready, so that whoever waits
// for "off" then finds the amp_off hook event already queued.
func TestRelayToldOffBeforeWhenOff(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var relay *Relay
	var off <-chan struct{}
	var offReadyWhenTold []bool
	r, err := New(context.Background(), Config{
		Power:       PinSwitch{Pin: &gpiotest.Pin{N: "power"}},
		Warmup:      warmup,
		IdleTimeout: idle,
		Clock:       clock,
		OnChange: func(on bool) {
			if on {
				return
			}
			select {
			case <-off:
				offReadyWhenTold = append(offReadyWhenTold, true)
			default:
				offReadyWhenTold = append(offReadyWhenTold, false)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	relay = r
	done := make(chan error, 1)
	go func() { done <- relay.Request(context.Background()) }()
	clock.WaitForTimers(1)
	clock.Advance(warmup)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	off = relay.WhenOff()
	relay.Idle()
	clock.Advance(idle) // runs the idle timer's switch-off, OnChange(false) included
	select {
	case <-off:
	default:
		t.Fatal("WhenOff not ready after the idle timeout")
	}
	if len(offReadyWhenTold) != 1 || offReadyWhenTold[0] {
		t.Fatalf("OnChange(false) calls, WhenOff ready at each: %v; want one, before WhenOff", offReadyWhenTold)
	}
}

// New timings count from the next switch: an idle timeout under way keeps
// its time, the next one and the next warm-up take the new ones.
func TestRelaySetTimings(t *testing.T) {
	r := newRig(t, false, false)
	done := r.request()
	r.clock.WaitForTimers(1)
	r.clock.Advance(warmup)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.relay.Idle() // armed with the old idle timeout
	const newWarmup, newIdle = 3 * time.Second, 7 * time.Second
	if err := r.relay.SetTimings(newWarmup, newIdle); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(newIdle)
	r.wantPower(true, false) // the old, longer timeout runs on
	r.clock.Advance(idle - newIdle)
	r.wantPower(false, false)

	done = r.request()
	r.clock.WaitForTimers(1)
	r.clock.Advance(newWarmup - time.Millisecond)
	notDone(t, done, "before the new warm-up ended")
	r.clock.Advance(time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.relay.Idle()
	r.clock.Advance(newIdle - time.Millisecond)
	r.wantPower(true, false)
	r.clock.Advance(time.Millisecond)
	r.wantPower(false, false)

	if err := r.relay.SetTimings(-time.Second, time.Second); err == nil {
		t.Error("a negative warm-up was taken")
	}
}

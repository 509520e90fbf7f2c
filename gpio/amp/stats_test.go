package amp

import (
	"context"
	"testing"
	"time"
)

// The relay counts its switches and the time it was on, the stretch under
// way included, on its own clock.
func TestRelayStats(t *testing.T) {
	r := newRig(t, false, true)
	if st := r.relay.Stats(); st != (Stats{}) {
		t.Fatalf("at start (driven off, which is no switch): %+v", st)
	}
	done := r.request()
	r.clock.WaitForTimers(1)
	r.clock.Advance(warmup)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(time.Minute)
	want := Stats{SwitchedOn: 1, OnTime: warmup + time.Minute, On: true}
	if st := r.relay.Stats(); st != want {
		t.Fatalf("while on: %+v, want %+v", st, want)
	}
	r.relay.Idle()
	r.clock.Advance(idle) // the idle timeout switches it off
	want = Stats{SwitchedOn: 1, SwitchedOff: 1, OnTime: warmup + time.Minute + idle}
	if st := r.relay.Stats(); st != want {
		t.Fatalf("after the idle timeout: %+v, want %+v", st, want)
	}
	r.clock.Advance(time.Hour) // off: no on-time
	done = r.request()
	r.clock.WaitForTimers(1)
	r.clock.Advance(warmup)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := r.relay.Off(context.Background()); err != nil {
		t.Fatal(err)
	}
	want = Stats{SwitchedOn: 2, SwitchedOff: 2, OnTime: 2*warmup + time.Minute + idle}
	if st := r.relay.Stats(); st != want {
		t.Fatalf("after Off: %+v, want %+v", st, want)
	}
}

package fakeclock

import (
	"slices"
	"testing"
	"time"
)

func TestAdvanceFiresDueTimersInOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New(start)
	var fired []string
	var at []time.Duration
	note := func(name string) func() {
		return func() { fired = append(fired, name); at = append(at, c.Now().Sub(start)) }
	}
	c.AfterFunc(3*time.Second, note("c"))
	c.AfterFunc(time.Second, note("a"))
	stopB := c.AfterFunc(2*time.Second, note("b"))
	c.AfterFunc(time.Second, func() {
		note("a2")()
		// A timer armed from a callback fires in the same Advance if due.
		c.AfterFunc(500*time.Millisecond, note("nested"))
	})
	if !stopB() || stopB() {
		t.Fatal("Stop: want true once, then false")
	}
	c.Advance(2 * time.Second)
	if want := []string{"a", "a2", "nested"}; !slices.Equal(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
	if want := []time.Duration{time.Second, time.Second, 1500 * time.Millisecond}; !slices.Equal(at, want) {
		t.Fatalf("fired at %v, want %v", at, want)
	}
	if c.Now().Sub(start) != 2*time.Second || c.Pending() != 1 {
		t.Fatalf("now %v, pending %d", c.Now().Sub(start), c.Pending())
	}
	c.WaitForTimers(1) // already true: returns
	c.Advance(time.Second)
	if fired[len(fired)-1] != "c" || c.Pending() != 0 {
		t.Fatalf("fired %v", fired)
	}
}

// TestWaitForTimersWakesOnAfterFunc: a waiter for two timers is woken by
// the first AfterFunc (each one signals), must go back to waiting, and
// returns only once both are pending. A broken wake-up would hang, so the
// wait is bounded and says what went wrong instead.
func TestWaitForTimersWakesOnAfterFunc(t *testing.T) {
	c := New(time.Time{})
	pendingAtReturn := make(chan int, 1)
	go func() {
		c.WaitForTimers(2)
		pendingAtReturn <- c.Pending()
	}()
	c.AfterFunc(time.Second, func() {})
	c.AfterFunc(2*time.Second, func() {})
	select {
	case n := <-pendingAtReturn:
		// Nothing fires or stops timers here, so the count the waiter saw
		// is the count it waited for: it must not have left after the
		// first wake-up.
		if n != 2 {
			t.Fatalf("WaitForTimers(2) returned with %d timers pending", n)
		}
	case <-time.After(10 * time.Second): // a bound for a hang, not a timing assertion
		t.Fatalf("WaitForTimers(2) still blocked with %d timers pending: AfterFunc did not wake it", c.Pending())
	}
}

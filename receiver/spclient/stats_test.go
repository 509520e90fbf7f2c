package spclient

import (
	"context"
	"net/http"
	"testing"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
)

// The publisher counts accepted calls, failures and 429s in the shared
// PublisherStats, which a second publisher (the next chain) carries on.
func TestPublisherStatsCountOutcomes(t *testing.T) {
	stats := &PublisherStats{}
	run := func(t *testing.T) *pubEnv {
		e := &pubEnv{clk: newFakeClock(), sender: newFakeSender()}
		p, err := NewPublisher(PublisherConfig{Sender: e.sender, Now: e.clk.Now, NewTimer: e.clk.NewTimer, Stats: stats})
		if err != nil {
			t.Fatal(err)
		}
		e.p = p
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return e
	}

	e := run(t)
	e.sender.fail(&StatusError{Status: http.StatusTooManyRequests, RetryAfter: 2 * time.Second},
		&StatusError{Status: http.StatusBadGateway}, nil)
	e.p.SetConnectionID("c1")
	e.p.Publish(testState(connectpb.PutStateReason_NEW_DEVICE, 1))
	e.sender.wait(t, 1)
	e.clk.fire(t, 2*time.Second) // the 429's cooldown
	e.sender.wait(t, 2)
	e.clk.fire(t, publishMinRetry) // the 502's backoff
	e.sender.wait(t, 3)
	// The inactive call's result comes after the PUT before it was counted.
	inactive(t, e)
	want := PublisherCounts{Published: 2, Failed: 1, RateLimited: 1}
	if got := stats.Counts(); got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}

	e2 := run(t)
	e2.p.SetConnectionID("c2")
	e2.p.Publish(testState(connectpb.PutStateReason_NEW_DEVICE, 1))
	e2.sender.wait(t, 1)
	inactive(t, e2)
	want.Published += 2
	if got := stats.Counts(); got != want {
		t.Fatalf("after a second publisher: %+v, want %+v", got, want)
	}
	if got := (*PublisherStats)(nil).Counts(); got != (PublisherCounts{}) {
		t.Fatalf("nil stats count %+v", got)
	}
}

// inactive makes the inactive call (200 ms after the last call) and waits
// for its result.
func inactive(t *testing.T, e *pubEnv) {
	t.Helper()
	done := e.p.Inactive()
	e.clk.fire(t, DefaultMinInterval)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second): // a failure guard, not synchronisation
		t.Fatal("no result of the inactive call")
	}
}

package receiver

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver/apconn"
)

type fakeConn struct {
	// The session uses only the login side of the seam; the embedded nil
	// interface makes any other call fail the test loudly (nil panic).
	apconn.Conn
	user      string
	done      chan struct{}
	closeOnce sync.Once
	closed    chan struct{}
}

func newFakeConn(user string) *fakeConn {
	return &fakeConn{user: user, done: make(chan struct{}), closed: make(chan struct{})}
}
func (c *fakeConn) Username() string      { return c.user }
func (c *fakeConn) Done() <-chan struct{} { return c.done }
func (c *fakeConn) Close()                { c.closeOnce.Do(func() { close(c.closed) }) }
func (c *fakeConn) Reusable() creds.Credentials {
	return creds.Credentials{Username: c.user, AuthType: creds.AuthStoredSpotify, AuthData: []byte("reusable-" + c.user)}
}

// fakeDialer hands each Dial call to the test, which answers it.
type fakeDialer struct{ calls chan dialCall }

type dialCall struct {
	creds creds.Credentials
	reply chan dialResult
}

func (d *fakeDialer) Dial(ctx context.Context, c creds.Credentials) (Conn, error) {
	call := dialCall{creds: c, reply: make(chan dialResult, 1)}
	d.calls <- call
	select {
	case r := <-call.reply:
		return r.conn, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type accepted struct{ used, reusable creds.Credentials }

type harness struct {
	t        *testing.T
	s        *Session
	dialer   *fakeDialer
	delays   chan time.Duration
	fire     chan time.Time
	events   chan SessionEvent
	saved    chan accepted
	rejected chan creds.Credentials
	cancel   context.CancelFunc
	done     chan error
}

func newHarness(t *testing.T, initial *creds.Credentials) *harness {
	h := &harness{
		t:        t,
		dialer:   &fakeDialer{calls: make(chan dialCall)},
		delays:   make(chan time.Duration, 16),
		fire:     make(chan time.Time),
		events:   make(chan SessionEvent, 16),
		saved:    make(chan accepted, 16),
		rejected: make(chan creds.Credentials, 16),
		done:     make(chan error, 1),
	}
	h.s = NewSession(SessionConfig{
		Dialer:     h.dialer,
		Accepted:   func(used, reusable creds.Credentials) error { h.saved <- accepted{used, reusable}; return nil },
		Rejected:   func(used creds.Credentials) error { h.rejected <- used; return nil },
		Events:     func(e SessionEvent) { h.events <- e },
		MinBackoff: time.Second,
		MaxBackoff: 8 * time.Second,
		After: func(d time.Duration) <-chan time.Time {
			h.delays <- d
			return h.fire
		},
		Jitter: func() float64 { return 1 - 1e-9 }, // the upper end: d
	})
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.s.Run(ctx, initial) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return h
}

func (h *harness) nextDial() dialCall {
	h.t.Helper()
	select {
	case c := <-h.dialer.calls:
		return c
	case <-time.After(5 * time.Second):
		h.t.Fatal("no dial")
	}
	return dialCall{}
}

func (h *harness) noDial() {
	h.t.Helper()
	select {
	case c := <-h.dialer.calls:
		h.t.Fatalf("unexpected dial as %q", c.creds.Username)
	case <-time.After(100 * time.Millisecond):
	}
}

func (h *harness) event(kind, user string) {
	h.t.Helper()
	select {
	case e := <-h.events:
		if e.Kind != kind || e.Username != user {
			h.t.Fatalf("event %+v, want %s %s", e, kind, user)
		}
	case <-time.After(5 * time.Second):
		h.t.Fatalf("no %s event", kind)
	}
}

func TestSessionWaitsWithoutCredentials(t *testing.T) {
	h := newHarness(t, nil)
	h.noDial()
	if err := h.s.Login(context.Background(), creds.Credentials{Username: "alice", AuthType: creds.AuthStoredSpotify, AuthData: []byte("blob")}); err != nil {
		t.Fatal(err)
	}
	c := h.nextDial()
	if c.creds.Username != "alice" || string(c.creds.AuthData) != "blob" {
		t.Fatalf("dialled with %v", c.creds)
	}
	c.reply <- dialResult{conn: newFakeConn("alice")}
	h.event("session_connected", "alice")
	// The store is told which login Spotify accepted (so it can mark the
	// phone's credentials verified) and what to keep for the next one.
	if got := <-h.saved; string(got.used.AuthData) != "blob" || string(got.reusable.AuthData) != "reusable-alice" || got.reusable.AuthType != creds.AuthStoredSpotify {
		t.Fatalf("accepted %+v / %+v", got.used, got.reusable)
	}
}

// TestSessionOfflineBackoff: with no network the session keeps retrying with
// growing, capped delays, and logs in once the network returns.
func TestSessionOfflineBackoff(t *testing.T) {
	h := newHarness(t, &creds.Credentials{Username: "bob", AuthType: creds.AuthStoredSpotify, AuthData: []byte("x")})
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i, w := range want {
		h.nextDial().reply <- dialResult{err: errors.New("dial tcp: network is unreachable")}
		d := <-h.delays
		if d < w-time.Millisecond || d > w {
			t.Fatalf("retry %d after %v, want %v", i+1, d, w)
		}
		h.fire <- time.Now()
	}
	h.nextDial().reply <- dialResult{conn: newFakeConn("bob")}
	h.event("session_connected", "bob")
}

func TestSessionRejectedWaitsForNewCredentials(t *testing.T) {
	h := newHarness(t, &creds.Credentials{Username: "carol", AuthType: creds.AuthStoredSpotify, AuthData: []byte("old")})
	h.nextDial().reply <- dialResult{err: &RejectedError{Reason: "BadCredentials"}}
	// The store hears of the refusal, with the credentials refused.
	if got := <-h.rejected; got.Username != "carol" || string(got.AuthData) != "old" {
		t.Fatalf("rejected %v", got)
	}
	h.noDial()
	select {
	case d := <-h.delays:
		t.Fatalf("retry scheduled (%v) after a rejected login", d)
	default:
	}
	_ = h.s.Login(context.Background(), creds.Credentials{Username: "carol", AuthType: creds.AuthStoredSpotify, AuthData: []byte("new")})
	if c := h.nextDial(); string(c.creds.AuthData) != "new" {
		t.Fatalf("dialled with %v", c.creds)
	}
}

func TestSessionTakeoverAndReconnect(t *testing.T) {
	h := newHarness(t, &creds.Credentials{Username: "alice", AuthType: creds.AuthStoredSpotify, AuthData: []byte("a")})
	a := newFakeConn("alice")
	h.nextDial().reply <- dialResult{conn: a}
	h.event("session_connected", "alice")
	<-h.saved

	// The connection drops: log in again with the reusable credentials.
	close(a.done)
	h.event("session_disconnected", "alice")
	c := h.nextDial()
	if string(c.creds.AuthData) != "reusable-alice" {
		t.Fatalf("reconnect with %v", c.creds)
	}
	a2 := newFakeConn("alice")
	c.reply <- dialResult{conn: a2}
	h.event("session_connected", "alice")
	<-h.saved

	// Another phone hands over bob: alice is logged out first.
	_ = h.s.Login(context.Background(), creds.Credentials{Username: "bob", AuthType: creds.AuthStoredSpotify, AuthData: []byte("b")})
	h.event("session_disconnected", "alice")
	select {
	case <-a2.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("old connection not closed on takeover")
	}
	c = h.nextDial()
	if c.creds.Username != "bob" {
		t.Fatalf("takeover dialled %v", c.creds)
	}
	c.reply <- dialResult{conn: newFakeConn("bob")}
	h.event("session_connected", "bob")

	// resetUsers: logged out, no new login.
	_ = h.s.Logout(context.Background())
	h.event("session_disconnected", "bob")
	h.noDial()
}

// TestSessionTakeoverDuringDial: new credentials while a login is still in
// progress abandon that login.
func TestSessionTakeoverDuringDial(t *testing.T) {
	h := newHarness(t, &creds.Credentials{Username: "alice", AuthType: creds.AuthStoredSpotify, AuthData: []byte("a")})
	first := h.nextDial()
	_ = h.s.Login(context.Background(), creds.Credentials{Username: "bob", AuthType: creds.AuthStoredSpotify, AuthData: []byte("b")})
	if c := h.nextDial(); c.creds.Username != "bob" {
		t.Fatalf("dialled %v", c.creds)
	}
	// The abandoned dial finishing late must not resurrect alice.
	late := newFakeConn("alice")
	first.reply <- dialResult{conn: late}
	select {
	case e := <-h.events:
		t.Fatalf("unexpected event %+v", e)
	case <-time.After(100 * time.Millisecond):
	}
}

package dealer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/receiver/dealer"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// guard bounds every wait of a test, so that a bug fails the test instead of
// hanging it. It is never the reason a test passes.
const guard = 20 * time.Second

// fakeDeadline is a reply deadline the test fires by hand.
type fakeDeadline struct {
	d       time.Duration
	mu      sync.Mutex
	f       func()
	stopped bool
}

func (fd *fakeDeadline) stop() bool {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	was := !fd.stopped
	fd.stopped = true
	return was
}

// fire runs the deadline's func as a timer would, unless it was stopped.
func (fd *fakeDeadline) fire() {
	if fd.stop() {
		fd.f()
	}
}

type harness struct {
	t   *testing.T
	srv *spotifytest.DealerServer
	hs  *httptest.Server
	d   *dealer.Dealer

	mu     sync.Mutex
	forces []bool // every Token call's force flag
	fresh  int    // tokens handed out with force=true

	waits     chan time.Duration  // every backoff Run asked for
	fire      chan time.Time      // the test ends the current backoff
	tickers   chan chan time.Time // each connection's ping ticks
	deadlines chan *fakeDeadline  // every reply deadline armed
	logs      *lockedBuffer
	cancel    context.CancelFunc
	done      chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// token returns "token-<n>", n counting the forced refreshes.
func (h *harness) token(ctx context.Context, force bool) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.forces = append(h.forces, force)
	if force {
		h.fresh++
	}
	return fmt.Sprintf("token-%d", h.fresh), nil
}

func (h *harness) forceFlags() []bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]bool(nil), h.forces...)
}

// newHarness starts a DealerServer behind a loopback TLS server and a
// Dealer against it with every clock in the test's hands. edit may change
// the config before New.
func newHarness(t *testing.T, edit func(*dealer.Config)) *harness {
	return newHarnessPre(t, nil, edit)
}

// newHarnessPre runs pre on the server before the dealer starts: a knob
// set after Run has started would race its first dial.
func newHarnessPre(t *testing.T, pre func(*spotifytest.DealerServer), edit func(*dealer.Config)) *harness {
	h := &harness{
		t:         t,
		srv:       spotifytest.NewDealerServer(),
		waits:     make(chan time.Duration, 100),
		fire:      make(chan time.Time),
		tickers:   make(chan chan time.Time, 100),
		deadlines: make(chan *fakeDeadline, 1000),
		logs:      &lockedBuffer{},
		done:      make(chan error, 1),
	}
	if pre != nil {
		pre(h.srv)
	}
	h.hs = httptest.NewTLSServer(h.srv)
	t.Cleanup(h.hs.Close)
	t.Cleanup(h.srv.Close)
	addr := strings.TrimPrefix(h.hs.URL, "https://")
	cfg := dealer.Config{
		Client: h.hs.Client(),
		Addr:   func(context.Context) (string, error) { return addr, nil },
		Token:  h.token,
		Log:    slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		After: func(d time.Duration) <-chan time.Time {
			h.waits <- d
			return h.fire
		},
		PingTicker: func(time.Duration) (<-chan time.Time, func()) {
			ch := make(chan time.Time)
			h.tickers <- ch
			return ch, func() {}
		},
		AfterFunc: func(d time.Duration, f func()) func() bool {
			fd := &fakeDeadline{d: d, f: f}
			h.deadlines <- fd
			return fd.stop
		},
		Jitter:     func() float64 { return 1 - 1e-9 }, // the upper end of each backoff
		MinBackoff: time.Second,
		MaxBackoff: 8 * time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	d, err := dealer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(guard):
			t.Error("Run did not return after cancel")
		}
	})
	return h
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	h.t.Cleanup(cancel)
	return ctx
}

// next returns the next event.
func (h *harness) next() dealer.Event {
	h.t.Helper()
	select {
	case ev, ok := <-h.d.Events():
		if !ok {
			h.t.Fatal("events closed")
		}
		return ev
	case <-time.After(guard):
		h.t.Fatal("no event")
	}
	return nil
}

func expect[T dealer.Event](h *harness) T {
	h.t.Helper()
	ev := h.next()
	v, ok := ev.(T)
	if !ok {
		var want T
		h.t.Fatalf("event %T %+v, want %T", ev, ev, want)
	}
	return v
}

// connected waits for the n-th connection's id on both sides.
func (h *harness) connected(n int) string {
	h.t.Helper()
	id, err := h.srv.WaitConnection(h.ctx(), n)
	if err != nil {
		h.t.Fatal(err)
	}
	if got := expect[dealer.ConnectionID](h); got.ID != id {
		h.t.Fatalf("connection id %q, server named it %q", got.ID, id)
	}
	return id
}

func (h *harness) wait() time.Duration {
	h.t.Helper()
	select {
	case d := <-h.waits:
		return d
	case <-time.After(guard):
		h.t.Fatal("no backoff")
	}
	return 0
}

func (h *harness) ticker() chan time.Time {
	h.t.Helper()
	select {
	case c := <-h.tickers:
		return c
	case <-time.After(guard):
		h.t.Fatal("no ping ticker")
	}
	return nil
}

func (h *harness) deadline() *fakeDeadline {
	h.t.Helper()
	select {
	case fd := <-h.deadlines:
		return fd
	case <-time.After(guard):
		h.t.Fatal("no reply deadline armed")
	}
	return nil
}

func payload(t testing.TB, id uint32, command any) []byte {
	p, err := spotifytest.DealerCommandPayload(id, "phone-1", command)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (h *harness) sendRequest(key string, gzip bool, command any) {
	h.t.Helper()
	err := h.srv.SendRequest(h.ctx(), spotifytest.DealerRequest{Key: key, Payload: payload(h.t, 9, command), Gzip: gzip})
	if err != nil {
		h.t.Fatal(err)
	}
}

// fence sends one more request and answers it: every frame the client had
// written before is then at the server, so a missing reply is really missing.
func (h *harness) fence(name string) {
	h.t.Helper()
	h.sendRequest(name, false, map[string]any{"endpoint": "fence"})
	req := expect[dealer.Request](h)
	if req.Key != name {
		h.t.Fatalf("request %q, want the fence %q", req.Key, name)
	}
	req.Reply(true)
	if ok, err := h.srv.WaitReply(h.ctx(), name); err != nil || !ok {
		h.t.Fatalf("fence reply %v %v", ok, err)
	}
}

func TestConnectNamesTheConnection(t *testing.T) {
	h := newHarness(t, nil)
	h.connected(1)
	if got := h.srv.Tokens(); len(got) != 1 || got[0] != "token-0" {
		t.Errorf("tokens at the upgrade %q", got)
	}
	if got := h.forceFlags(); len(got) != 1 || got[0] {
		t.Errorf("Token force flags %v, want [false]", got)
	}
}

func TestRequestGetsExactlyOneReply(t *testing.T) {
	for _, tt := range []struct {
		name    string
		gzip    bool
		success bool
	}{
		{"plain, success", false, true},
		{"gzip, success", true, true},
		{"gzip, failure", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.connected(1)
			h.sendRequest("key-1", tt.gzip, map[string]any{"endpoint": "seek_to", "value": 1234})
			req := expect[dealer.Request](h)
			if req.Key != "key-1" || req.Ident != spotifytest.DealerCommandIdent || req.Endpoint != "seek_to" || req.MessageID != 9 || req.SentBy != "phone-1" {
				t.Errorf("request %+v", req)
			}
			var cmd struct {
				Endpoint string
				Value    int
			}
			if err := json.Unmarshal(req.Command, &cmd); err != nil || cmd.Value != 1234 {
				t.Errorf("command %s: %v", req.Command, err)
			}
			if fd := h.deadline(); fd.d != 5*time.Second {
				t.Errorf("reply deadline %s, want the default 5s", fd.d)
			}
			req.Reply(tt.success)
			req.Reply(!tt.success) // ignored
			if ok, err := h.srv.WaitReply(h.ctx(), "key-1"); err != nil || ok != tt.success {
				t.Fatalf("reply %v %v", ok, err)
			}
			h.fence("fence")
			if got := h.srv.Replies("key-1"); len(got) != 1 {
				t.Errorf("replies %v, want exactly one", got)
			}
		})
	}
}

func TestSlowHandlerGetsFailureByTheDeadline(t *testing.T) {
	h := newHarness(t, func(c *dealer.Config) { c.ReplyTimeout = 3 * time.Second })
	h.connected(1)
	h.sendRequest("slow", true, map[string]any{"endpoint": "transfer"})
	req := expect[dealer.Request](h)
	fd := h.deadline()
	if fd.d != 3*time.Second {
		t.Errorf("deadline %s", fd.d)
	}
	fd.fire()
	if ok, err := h.srv.WaitReply(h.ctx(), "slow"); err != nil || ok {
		t.Fatalf("reply %v %v, want failure", ok, err)
	}
	req.Reply(true) // the handler, too late
	h.fence("fence")
	if got := h.srv.Replies("slow"); len(got) != 1 || got[0] {
		t.Errorf("replies %v, want exactly [false]", got)
	}
}

func TestReplyBeforeDeadlineStopsIt(t *testing.T) {
	h := newHarness(t, nil)
	h.connected(1)
	h.sendRequest("quick", false, map[string]any{"endpoint": "pause"})
	req := expect[dealer.Request](h)
	fd := h.deadline()
	req.Reply(true)
	if fd.stop() {
		t.Error("the deadline was still armed after the reply")
	}
	h.fence("fence")
	if got := h.srv.Replies("quick"); len(got) != 1 || !got[0] {
		t.Errorf("replies %v, want [true]", got)
	}
}

func TestMessages(t *testing.T) {
	for _, tt := range []struct {
		name string
		msg  spotifytest.DealerMessage
		want []byte
	}{
		{"plain", spotifytest.DealerMessage{URI: "hm://connect-state/v1/connect/volume", Payload: []byte{8, 1}}, []byte{8, 1}},
		{"gzip", spotifytest.DealerMessage{URI: "hm://connect-state/v1/cluster", Payload: bytes.Repeat([]byte("cluster"), 1000), Gzip: true}, bytes.Repeat([]byte("cluster"), 1000)},
		{"two payloads", spotifytest.DealerMessage{URI: "hm://x", Payloads: [][]byte{[]byte("ab"), []byte("cd")}}, []byte("abcd")},
		{"none", spotifytest.DealerMessage{URI: "hm://connect-state/v1/connect/logout"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.connected(1)
			if err := h.srv.SendMessage(h.ctx(), tt.msg); err != nil {
				t.Fatal(err)
			}
			m := expect[dealer.Message](h)
			if m.URI != tt.msg.URI || !bytes.Equal(m.Payload, tt.want) {
				t.Errorf("message %s %q, want %s %q", m.URI, m.Payload, tt.msg.URI, tt.want)
			}
			if _, ok := m.Headers["Transfer-Encoding"]; ok {
				t.Errorf("headers %v still name the transfer encoding", m.Headers)
			}
		})
	}
}

func TestMalformedFramesAreDropped(t *testing.T) {
	gzipBomb := spotifytest.DealerMessage{URI: "hm://x", Payload: bytes.Repeat([]byte{0}, 1<<20), Gzip: true}
	for _, tt := range []struct {
		name     string
		raw      string
		msg      *spotifytest.DealerMessage
		failKey  string // a malformed request that must be answered with failure
		wantLogs string
	}{
		{name: "garbage", raw: "\x00garbage{", wantLogs: "dropping malformed dealer frame"},
		{name: "unknown type", raw: `{"type":"surprise"}`, wantLogs: "unknown frame type"},
		{name: "object payload", raw: `{"type":"message","uri":"hm://x","payloads":[{"a":1}]}`, wantLogs: "not a string"},
		{name: "two payloads, one not base64", raw: `{"type":"message","uri":"hm://x","payloads":["YQ==","%%"]}`, wantLogs: "payload 1"},
		{name: "gzip over the payload limit", msg: &gzipBomb, wantLogs: "larger than"},
		{name: "oversized frame", raw: `{"type":"message","uri":"hm://x","payloads":["` + strings.Repeat("A", 70000) + `"]}`, wantLogs: "oversized dealer frame"},
		{name: "request with a broken payload", raw: `{"type":"request","key":"bad-1","message_ident":"hm://connect-state/v1/player/command","payload":{"compressed":"e30="}}`, failKey: "bad-1", wantLogs: "answering failure"},
		{name: "request with a broken envelope", raw: `{"type":"request","key":"bad-2","headers":[1]}`, failKey: "bad-2", wantLogs: "answering failure"},
		{name: "request without a key", raw: `{"type":"request","message_ident":"x"}`, wantLogs: "without a key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *dealer.Config) {
				c.MaxFrame = 64 << 10
				c.MaxPayload = 512 << 10
			})
			h.connected(1)
			var err error
			if tt.msg != nil {
				err = h.srv.SendMessage(h.ctx(), *tt.msg)
			} else {
				err = h.srv.SendRaw(h.ctx(), []byte(tt.raw))
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.failKey != "" {
				if ok, err := h.srv.WaitReply(h.ctx(), tt.failKey); err != nil || ok {
					t.Fatalf("reply %v %v, want failure", ok, err)
				}
			}
			// Still the same connection, still reading: a good request
			// right after is the next event and is answered.
			h.fence("fence")
			if n := h.srv.Connections(); n != 1 {
				t.Errorf("%d connections, want 1", n)
			}
			if !strings.Contains(h.logs.String(), tt.wantLogs) {
				t.Errorf("logs lack %q:\n%s", tt.wantLogs, h.logs.String())
			}
		})
	}
}

func TestDropReconnects(t *testing.T) {
	h := newHarness(t, nil)
	id1 := h.connected(1)
	if err := h.srv.Drop(); err != nil {
		t.Fatal(err)
	}
	if ev := expect[dealer.Disconnected](h); ev.Err == nil {
		t.Error("Disconnected without a reason")
	}
	// A connection that worked restarts the backoff at its bottom.
	if d := h.wait(); d <= 500*time.Millisecond || d > time.Second {
		t.Errorf("backoff after a drop %s, want (0.5s, 1s]", d)
	}
	h.fire <- time.Time{}
	id2 := h.connected(2)
	if id1 == id2 {
		t.Errorf("same connection id %q after a reconnect", id1)
	}
	if got := h.forceFlags(); len(got) != 2 || got[1] {
		t.Errorf("force flags %v: a drop is no reason for a fresh token", got)
	}
	// The new connection works.
	h.fence("after-reconnect")
}

func TestRefusedUpgrade(t *testing.T) {
	for _, tt := range []struct {
		status    int
		wantForce bool
	}{
		{http.StatusUnauthorized, true},
		{http.StatusForbidden, true},
		{http.StatusServiceUnavailable, false},
	} {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			h := newHarnessPre(t, func(s *spotifytest.DealerServer) { s.RefuseUpgrades(tt.status, 1) }, nil)
			h.wait()
			if !strings.Contains(h.logs.String(), fmt.Sprintf("status %d", tt.status)) {
				t.Errorf("logs do not name status %d:\n%s", tt.status, h.logs.String())
			}
			h.fire <- time.Time{}
			h.connected(1)
			if got := h.forceFlags(); len(got) != 2 || got[0] || got[1] != tt.wantForce {
				t.Errorf("force flags %v, want [false %v]", got, tt.wantForce)
			}
		})
	}
}

func TestRevokedTokenIsReplaced(t *testing.T) {
	h := newHarnessPre(t, func(s *spotifytest.DealerServer) {
		s.SetAcceptToken(func(tok string) bool { return tok != "token-0" })
	}, nil)
	h.wait()
	h.fire <- time.Time{}
	h.connected(1)
	if got := h.srv.Tokens(); len(got) != 2 || got[1] != "token-1" {
		t.Errorf("tokens %q, want a fresh one on the second attempt", got)
	}
}

func TestRefusalsThenAccept(t *testing.T) {
	h := newHarnessPre(t, func(s *spotifytest.DealerServer) { s.RefuseUpgrades(http.StatusServiceUnavailable, 6) }, nil)
	// MinBackoff 1 s, MaxBackoff 8 s, jitter at the top: 1, 2, 4, 8, 8, 8.
	for i, want := range []time.Duration{1, 2, 4, 8, 8, 8} {
		want *= time.Second
		if d := h.wait(); d <= want/2 || d > want {
			t.Errorf("backoff %d: %s, want (%s, %s]", i+1, d, want/2, want)
		}
		h.fire <- time.Time{}
	}
	h.connected(1)
	if n := len(h.srv.Tokens()); n != 7 {
		t.Errorf("%d upgrade attempts, want 7", n)
	}
}

func TestNoPongReconnects(t *testing.T) {
	h := newHarness(t, nil)
	h.connected(1)
	tick := h.ticker()
	// Answered pings keep the connection.
	for i := 1; i <= 3; i++ {
		tick <- time.Time{}
		if err := h.srv.WaitPings(h.ctx(), i); err != nil {
			t.Fatal(err)
		}
		h.fence(fmt.Sprint("alive-", i)) // the pong is read before the next tick
	}
	h.srv.SetAnswerPings(false)
	tick <- time.Time{} // pings; the fence proved the last interval
	if err := h.srv.WaitPings(h.ctx(), 4); err != nil {
		t.Fatal(err)
	}
	tick <- time.Time{} // a whole interval without a word: dead
	ev := expect[dealer.Disconnected](h)
	if ev.Err == nil || !strings.Contains(ev.Err.Error(), "no answer") {
		t.Errorf("Disconnected %v, want the ping timeout", ev.Err)
	}
	if err := h.srv.WaitDisconnected(h.ctx(), 1); err != nil {
		t.Fatal(err)
	}
	h.wait()
	h.fire <- time.Time{}
	h.connected(2)
}

func TestSlowConsumerDoesNotStallTheConnection(t *testing.T) {
	h := newHarness(t, func(c *dealer.Config) { c.QueueLimit = 2 })
	h.connected(1)
	tick := h.ticker()
	// Nobody reads events now.
	h.sendRequest("r1", false, map[string]any{"endpoint": "pause"})
	h.sendRequest("r2", false, map[string]any{"endpoint": "resume"})
	h.sendRequest("r3", false, map[string]any{"endpoint": "skip_next"})
	if ok, err := h.srv.WaitReply(h.ctx(), "r3"); err != nil || ok {
		t.Fatalf("r3 over the queue limit: reply %v %v, want failure", ok, err)
	}
	if err := h.srv.SendMessage(h.ctx(), spotifytest.DealerMessage{URI: "hm://dropped"}); err != nil {
		t.Fatal(err)
	}
	// Pings go on.
	for i := 1; i <= 3; i++ {
		tick <- time.Time{}
		if err := h.srv.WaitPings(h.ctx(), i); err != nil {
			t.Fatal(err)
		}
		if err := h.srv.RoundTrip(h.ctx()); err != nil { // the pong is read before the next tick
			t.Fatal(err)
		}
	}
	for _, key := range []string{"r1", "r2"} {
		req := expect[dealer.Request](h)
		if req.Key != key {
			t.Fatalf("request %q, want %q", req.Key, key)
		}
		req.Reply(true)
	}
	h.fence("fence") // the dropped message is not delivered before it
	if n := h.srv.Connections(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	if !strings.Contains(h.logs.String(), "dropping a message") {
		t.Errorf("no log of the dropped message:\n%s", h.logs.String())
	}
}

func TestRequestOfALostConnection(t *testing.T) {
	h := newHarness(t, nil)
	h.connected(1)
	h.sendRequest("read", false, map[string]any{"endpoint": "pause"})
	req := expect[dealer.Request](h)
	h.sendRequest("unread", false, map[string]any{"endpoint": "resume"})
	h.deadline() // "read"
	h.deadline() // "unread" is with Run, or about to be
	if err := h.srv.Drop(); err != nil {
		t.Fatal(err)
	}
	// Once Run has taken the loss in (it then starts a backoff), the unread
	// request can no longer be answered, so it is not delivered.
	h.wait()
	expect[dealer.Disconnected](h)
	req.Reply(true) // no connection to answer on; must not block or panic
	h.fire <- time.Time{}
	h.connected(2)
	h.fence("fence")
	for _, key := range []string{"read", "unread"} {
		if got := h.srv.Replies(key); len(got) != 0 {
			t.Errorf("replies %v to %q of the old connection", got, key)
		}
	}
}

func TestCancelReturnsPromptly(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(h *harness)
	}{
		{"connected", func(h *harness) { h.connected(1) }},
		{"in a backoff", func(h *harness) {
			h.srv.RefuseUpgrades(http.StatusServiceUnavailable, -1)
			h.wait() // Run now waits for a fire that never comes
		}},
		{"request pending", func(h *harness) {
			h.connected(1)
			h.sendRequest("k", false, map[string]any{"endpoint": "pause"})
			h.deadline()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			tt.setup(h)
			h.cancel()
			select {
			case err := <-h.done:
				if err != nil {
					t.Errorf("Run returned %v, want nil", err)
				}
				h.done <- err // for the cleanup
			case <-time.After(guard):
				t.Fatal("Run did not return after cancel")
			}
			for range h.d.Events() {
				// drain: Run closed the channel, so this ends
			}
		})
	}
}

// A dial that hangs (an upgrade the server never answers, a token func
// waiting for the network) ends with the context too.
func TestCancelDuringDial(t *testing.T) {
	block := make(chan struct{})
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hs.Close)
	t.Cleanup(func() { close(block) })
	for _, tt := range []struct {
		name  string
		token func(ctx context.Context, force bool) (string, error)
	}{
		{"upgrade never answered", func(context.Context, bool) (string, error) { return "t", nil }},
		{"token func waiting", func(ctx context.Context, _ bool) (string, error) { <-ctx.Done(); return "", ctx.Err() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			called := make(chan struct{}, 10)
			d, err := dealer.New(dealer.Config{
				Client: hs.Client(),
				Addr: func(context.Context) (string, error) {
					called <- struct{}{}
					return strings.TrimPrefix(hs.URL, "https://"), nil
				},
				Token: tt.token,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			<-called
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(guard):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
}

func TestTokenNeverLogged(t *testing.T) {
	const secret = "s3cret/token+value"
	var logs lockedBuffer
	waits := make(chan time.Duration, 10)
	d, err := dealer.New(dealer.Config{
		Client: &http.Client{},
		// Nothing listens on port 1: the dial fails with the URL in
		// the HTTP client's error.
		Addr:  func(context.Context) (string, error) { return "127.0.0.1:1", nil },
		Token: func(context.Context, bool) (string, error) { return secret, nil },
		Log:   slog.New(slog.NewTextHandler(&logs, nil)),
		After: func(d time.Duration) <-chan time.Time { waits <- d; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	<-waits // the failure is logged before the backoff starts
	cancel()
	<-done
	out := logs.String()
	if !strings.Contains(out, "access_token=REDACTED") {
		t.Errorf("the log does not show the redacted URL:\n%s", out)
	}
	for _, s := range []string{secret, "s3cret"} {
		if strings.Contains(out, s) {
			t.Errorf("the log holds the token:\n%s", out)
		}
	}
}

func TestRunTwice(t *testing.T) {
	h := newHarness(t, nil)
	h.connected(1)
	if err := h.d.Run(context.Background()); err == nil {
		t.Error("a second Run did not fail")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	ok := dealer.Config{
		Client: &http.Client{},
		Addr:   func(context.Context) (string, error) { return "", nil },
		Token:  func(context.Context, bool) (string, error) { return "", nil },
	}
	for _, tt := range []struct {
		name string
		edit func(*dealer.Config)
		want string
	}{
		{"no client", func(c *dealer.Config) { c.Client = nil }, "Config.Client"},
		{"no addr", func(c *dealer.Config) { c.Addr = nil }, "Config.Addr"},
		{"no token", func(c *dealer.Config) { c.Token = nil }, "Config.Token"},
		{"negative ping", func(c *dealer.Config) { c.PingInterval = -time.Second }, "Config.PingInterval is -1s"},
		{"max below min", func(c *dealer.Config) { c.MinBackoff, c.MaxBackoff = time.Minute, time.Second }, "MaxBackoff"},
		{"negative frame limit", func(c *dealer.Config) { c.MaxFrame = -1 }, "Config.MaxFrame is -1"},
		{"negative queue", func(c *dealer.Config) { c.QueueLimit = -1 }, "Config.QueueLimit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			_, err := dealer.New(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one naming %q", err, tt.want)
			}
		})
	}
	if _, err := dealer.New(ok); err != nil {
		t.Errorf("a good config: %v", err)
	}
}

var errSentinel = errors.New("sentinel")

func TestAddrAndTokenErrorsRetry(t *testing.T) {
	// failOnce makes the first call of a func fail. The calls come from
	// successive dials, which Run orders.
	failOnce := func(c *dealer.Config, which string) {
		if which == "addr" {
			addr, first := c.Addr, true
			c.Addr = func(ctx context.Context) (string, error) {
				if first {
					first = false
					return "", errSentinel
				}
				return addr(ctx)
			}
			return
		}
		token, first := c.Token, true
		c.Token = func(ctx context.Context, force bool) (string, error) {
			if first {
				first = false
				return "", errSentinel
			}
			return token(ctx, force)
		}
	}
	for _, which := range []string{"addr", "token"} {
		t.Run(which, func(t *testing.T) {
			h := newHarness(t, func(c *dealer.Config) { failOnce(c, which) })
			h.wait()
			want := map[string]string{"addr": "dealer address: sentinel", "token": "dealer token: sentinel"}[which]
			if !strings.Contains(h.logs.String(), want) {
				t.Errorf("logs lack %q:\n%s", want, h.logs.String())
			}
			h.fire <- time.Time{}
			h.connected(1)
		})
	}
}

func TestRepeatedKeyGetsOneReply(t *testing.T) {
	h := newHarness(t, nil)
	h.connected(1)
	h.sendRequest("dup", false, map[string]any{"endpoint": "pause"})
	req := expect[dealer.Request](h)
	h.sendRequest("dup", false, map[string]any{"endpoint": "pause"})
	if err := h.srv.RoundTrip(h.ctx()); err != nil { // the repeat has been read
		t.Fatal(err)
	}
	req.Reply(true)
	h.fence("fence") // fails if the repeat was delivered
	if got := h.srv.Replies("dup"); len(got) != 1 || !got[0] {
		t.Errorf("replies %v, want [true]", got)
	}
	// Once answered, the key may come again as a new request.
	h.sendRequest("dup", false, map[string]any{"endpoint": "resume"})
	if req := expect[dealer.Request](h); req.Endpoint != "resume" {
		t.Fatalf("request %+v", req)
	}
}

// A TLS listener that also offers HTTP/2 (as a shared fake may) still gets
// an HTTP/1.1 upgrade: the transport keeps websocket upgrades on HTTP/1.1.
func TestUpgradeWithHTTP2Offered(t *testing.T) {
	srv := spotifytest.NewDealerServer()
	hs := httptest.NewUnstartedServer(srv)
	hs.EnableHTTP2 = true
	hs.StartTLS()
	t.Cleanup(hs.Close)
	t.Cleanup(srv.Close)
	client := hs.Client()
	if tr, ok := client.Transport.(*http.Transport); !ok || !tr.ForceAttemptHTTP2 && tr.TLSClientConfig.NextProtos == nil {
		t.Fatalf("the test client does not offer h2: %T", client.Transport)
	}
	d, err := dealer.New(dealer.Config{
		Client: client,
		Addr:   func(context.Context) (string, error) { return strings.TrimPrefix(hs.URL, "https://"), nil },
		Token:  func(context.Context, bool) (string, error) { return "t", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, guard)
	defer wcancel()
	id, err := srv.WaitConnection(wctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-d.Events():
		if got, ok := ev.(dealer.ConnectionID); !ok || got.ID != id {
			t.Fatalf("event %+v, want ConnectionID %q", ev, id)
		}
	case <-time.After(guard):
		t.Fatal("no event")
	}
}

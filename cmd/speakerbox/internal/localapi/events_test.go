package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/receiver/hooks"
)

func TestEventsStatusFirstThenInOrder(t *testing.T) {
	h := newHarness(t, nil)
	c := h.connect(t)
	first := c.mustNext(t)
	if first.name != "status" {
		t.Fatalf("first event %q, want status", first.name)
	}
	var st Status
	if err := json.Unmarshal([]byte(first.data), &st); err != nil || st.Session.State != StateOffline || st.Device.Name != "Kitchen" {
		t.Fatalf("first status %s (%v)", first.data, err)
	}

	playSomething(h.s)
	const n = 40 // below the client queue: no drop whatever the timing
	for i := 1; i <= n; i++ {
		h.s.Emit(volumeEvent(i))
	}
	wantNames := []string{hooks.SessionConnected, hooks.TrackChanged, hooks.Playing, hooks.VolumeChanged}
	for i, want := range wantNames {
		f := c.mustNext(t)
		if f.name != want {
			t.Fatalf("event %d: %q, want %q", i, f.name, want)
		}
		d := decodeEvent(t, f)
		switch want {
		case hooks.SessionConnected:
			if d.Event["USER_NAME"] != "al…h" || d.Status.Session != (SessionStatus{State: StateConnected, User: "al…h"}) {
				t.Errorf("session_connected: %s", f.data)
			}
			if bytes.Contains([]byte(f.data), []byte("alice")) {
				t.Errorf("event leaks the user name: %s", f.data)
			}
		case hooks.TrackChanged:
			if d.Event["NAME"] != "Never Gonna Give You Up" || d.Status.Track == nil || d.Status.Track.PositionMs != 0 || d.Status.Session.State != StateConnected {
				t.Errorf("track_changed: %s", f.data)
			}
		case hooks.Playing:
			if d.Status.Session.State != StatePlaying || d.Status.Track.PositionMs != 42000 || !d.Status.Track.PositionAt.Equal(testTime) {
				t.Errorf("playing: %s", f.data)
			}
		}
	}
	for i := 1; i <= n; i++ {
		f := c.mustNext(t)
		d := decodeEvent(t, f)
		if f.name != hooks.VolumeChanged || d.Event["VOLUME"] != strconv.Itoa(i) || d.Status.Volume.Raw != uint16(i) {
			t.Fatalf("event %d: %s %s", i, f.name, f.data)
		}
	}

	// A client connecting now starts from the state after all of it.
	c2 := h.connect(t)
	f := c2.mustNext(t)
	if err := json.Unmarshal([]byte(f.data), &st); err != nil || f.name != "status" || st.Volume.Raw != n || st.Session.State != StatePlaying {
		t.Fatalf("new client's first event: %s %s", f.name, f.data)
	}
}

// stuckWriter is an event client that stops reading: its first write
// blocks until released.
type stuckWriter struct {
	header  http.Header
	started chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	events  int
}

func newStuckWriter() *stuckWriter {
	return &stuckWriter{header: http.Header{}, started: make(chan struct{}), release: make(chan struct{})}
}

func (w *stuckWriter) Header() http.Header { return w.header }
func (w *stuckWriter) WriteHeader(int)     {}
func (w *stuckWriter) Flush()              {}
func (w *stuckWriter) Write(b []byte) (int, error) {
	w.once.Do(func() { close(w.started) })
	<-w.release
	w.mu.Lock()
	w.events += bytes.Count(b, []byte("\n\n"))
	w.mu.Unlock()
	return len(b), nil
}

func TestEventsSlowClientDropped(t *testing.T) {
	const queue = 4
	h := newHarness(t, func(c *Config) { c.ClientQueue = queue })
	fast := h.connect(t)
	fast.mustNext(t)

	slow := newStuckWriter()
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		h.s.Handler().ServeHTTP(slow, httptest.NewRequest("GET", "http://127.0.0.1:4070/events", nil))
	}()
	<-slow.started // subscribed, and stuck writing its first event

	// Emit runs on the test goroutine: an emitter that waited for the slow
	// client would hang the test here. The fast client reads each event
	// before the next is emitted, so only the slow one can fall behind.
	const n = 50
	for i := 1; i <= n; i++ {
		h.s.Emit(volumeEvent(i))
		f := fast.mustNext(t)
		if d := decodeEvent(t, f); d.Status.Volume.Raw != uint16(i) {
			t.Fatalf("fast client, event %d: %s", i, f.data)
		}
	}
	// The fast client has event n, so the hub has offered every event to
	// the slow client too: it was dropped when its queue overflowed.
	if st := h.s.EventStats(); st.Dropped != 1 || st.Clients != 1 {
		t.Fatalf("after the slow client fell behind: %+v, want 1 dropped and 1 client", st)
	}
	close(slow.release)
	<-slowDone // its stream ends once it writes again
	slow.mu.Lock()
	got := slow.events
	slow.mu.Unlock()
	if got > queue+2 {
		t.Errorf("dropped client wrote %d events, at most %d were queued", got, queue+2)
	}

	// Reconnecting, it gets the current state first.
	c := h.connect(t)
	f := c.mustNext(t)
	var st Status
	if err := json.Unmarshal([]byte(f.data), &st); err != nil || f.name != "status" || st.Volume.Raw != n {
		t.Fatalf("reconnect: %s %s", f.name, f.data)
	}
}

// Emit never waits: with the hub not running at all, thousands of events
// go in; the status follows them, and the clients, which missed events,
// are dropped and start again from the current state.
func TestEmitNeverBlocks(t *testing.T) {
	s, err := New(Config{Device: DeviceInfo{Name: "x"}, Now: func() time.Time { return testTime }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close) // after the streams and Run have ended
	h := &harness{s: s, ts: ts}
	c := h.connect(t)
	if f := c.mustNext(t); f.name != "status" {
		t.Fatalf("first event %q", f.name)
	}
	const n = 5 * maxPending
	for i := 1; i <= n; i++ {
		s.Emit(volumeEvent(i % 65536))
	}
	if st := h.status(t); st.Volume.Raw != n%65536 {
		t.Fatalf("status after %d events: volume %d", n, st.Volume.Raw)
	}

	h.startRun(t)
	if f, err := c.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("client that missed events: got %+v, %v; want the stream ended", f, err)
	}
	if st := s.EventStats(); st.Dropped != 1 {
		t.Errorf("stats %+v", st)
	}
	c = h.connect(t)
	f := c.mustNext(t)
	var st Status
	if err := json.Unmarshal([]byte(f.data), &st); err != nil || st.Volume.Raw != n%65536 {
		t.Fatalf("reconnect: %s", f.data)
	}
}

func TestEventsHeartbeat(t *testing.T) {
	ticks := make(chan time.Time)
	h := newHarness(t, func(c *Config) { c.Heartbeat = ticks })
	c := h.connect(t)
	c.mustNext(t)
	ticks <- testTime
	if f := c.mustNext(t); f.comment != "keep-alive" || f.name != "" {
		t.Fatalf("heartbeat: %+v", f)
	}
	h.s.Emit(volumeEvent(7))
	if f := c.mustNext(t); f.name != hooks.VolumeChanged {
		t.Fatalf("after the heartbeat: %+v", f)
	}
}

func TestEventsClientLimit(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxClients = 2 })
	h.connect(t).mustNext(t)
	h.connect(t).mustNext(t)
	if code, body := h.do(t, "GET", "/events", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("third client: %d %s", code, body)
	}
}

// Serve ends event streams when its context ends and returns; nothing it
// started outlives it.
func TestServeStopsStreams(t *testing.T) {
	s, err := New(Config{Device: DeviceInfo{Name: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	h := &harness{s: s, ts: &httptest.Server{URL: "http://" + ln.Addr().String(), Config: &http.Server{}}}
	c := h.connectURL(t, "http://"+ln.Addr().String())
	c.mustNext(t)
	s.Emit(volumeEvent(3))
	if f := c.mustNext(t); f.name != hooks.VolumeChanged {
		t.Fatalf("event %+v", f)
	}
	cancel()
	if _, err := c.next(); err == nil {
		t.Fatal("stream still open after shutdown")
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func (h *harness) connectURL(t testing.TB, base string) *sse {
	t.Helper()
	resp, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("GET /events: %d", resp.StatusCode)
	}
	return &sse{resp: resp, r: bufioReader(resp.Body)}
}

// Refresh sends the device's status as an "event: status" between hook
// events, in order; refreshes back to back count once.
func TestEventsRefresh(t *testing.T) {
	var mu sync.Mutex
	rs := ReceiverStatus{Session: StateOffline}
	h := newHarness(t, func(c *Config) {
		c.Source = StatusSourceFunc(func() ReceiverStatus { mu.Lock(); defer mu.Unlock(); return rs })
	})
	c := h.connect(t)
	c.mustNext(t)
	mu.Lock()
	rs.Session = StateLoggingIn
	mu.Unlock()
	h.s.Refresh()
	f := c.mustNext(t)
	var st Status
	if err := json.Unmarshal([]byte(f.data), &st); err != nil || f.name != "status" || st.Session.State != StateLoggingIn {
		t.Fatalf("after Refresh: %s %s", f.name, f.data)
	}
	// Run not running: three refreshes and an event queue as two.
	s, err := New(Config{Device: DeviceInfo{Name: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	s.Refresh()
	s.Refresh()
	s.Emit(volumeEvent(1))
	s.Refresh()
	s.mu.Lock()
	n := len(s.pending)
	s.mu.Unlock()
	if n != 3 {
		t.Fatalf("%d queued, want 3 (refresh, event, refresh)", n)
	}
}

package localapi

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/receiver/hooks"
)

// fakeController records the commands it is given.
type fakeController struct {
	mu    sync.Mutex
	calls []Control
	err   error
}

func (f *fakeController) Control(_ context.Context, c Control) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.calls = append(f.calls, c)
	return nil
}

func (f *fakeController) Calls() []Control {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Control(nil), f.calls...)
}

type fakeRelay struct {
	mu   sync.Mutex
	mode RelayMode
	sets int
}

func (f *fakeRelay) SetMode(_ context.Context, m RelayMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = m
	f.sets++
	return nil
}

func (f *fakeRelay) RelayState() (bool, RelayMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mode == RelayOn, f.mode
}

func (f *fakeRelay) Sets() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sets
}

type fakeZeroConf struct {
	mu     sync.Mutex
	resets int
}

func (f *fakeZeroConf) ResetUsers(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets++
	return nil
}

func (f *fakeZeroConf) Resets() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.resets
}

// fixedClock is the injected clock: every event happens at the same time.
var testTime = time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)

type harness struct {
	s    *Server
	ts   *httptest.Server
	ctrl *fakeController
	rel  *fakeRelay
	zc   *fakeZeroConf
}

// newHarness starts a server with fakes behind a loopback httptest server
// and runs its hub; cleanup stops both. mod may change the config.
func newHarness(t testing.TB, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{ctrl: &fakeController{}, rel: &fakeRelay{mode: RelayAuto}, zc: &fakeZeroConf{}}
	cfg := Config{
		Device:     DeviceInfo{Name: "Kitchen", ID: "0123abcd", Version: "speakerbox test"},
		Controller: h.ctrl, Relay: h.rel, ZeroConf: h.zc,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "speakerbox_up 1\n")
		}),
		Now: func() time.Time { return testTime },
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	h.ts = httptest.NewServer(s.Handler())
	t.Cleanup(h.ts.Close)
	h.startRun(t)
	return h
}

func (h *harness) startRun(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.s.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// do sends a request; body "" sends none, otherwise as application/json
// unless headers say otherwise.
func (h *harness) do(t testing.TB, method, path, body string, headers ...string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func (h *harness) status(t testing.TB) Status {
	t.Helper()
	code, body := h.do(t, "GET", "/status", "")
	if code != 200 {
		t.Fatalf("GET /status: %d %s", code, body)
	}
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("GET /status: %v in %s", err, body)
	}
	return st
}

// sse is one event-stream client.
type sse struct {
	resp *http.Response
	r    *bufio.Reader
}

func (h *harness) connect(t testing.TB, headers ...string) *sse {
	t.Helper()
	req, err := http.NewRequest("GET", h.ts.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &sse{resp: resp, r: bufioReader(resp.Body)}
}

type frame struct {
	name    string
	data    string
	comment string
}

// next reads one frame (an event, or a comment line on its own); io.EOF
// when the server ended the stream.
func (c *sse) next() (frame, error) {
	var f frame
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return f, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if f.name != "" || f.data != "" || f.comment != "" {
				return f, nil
			}
		case strings.HasPrefix(line, ":"):
			f.comment = strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "event: "):
			f.name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			f.data += line[len("data: "):]
		case strings.HasPrefix(line, "retry: "):
		default:
			return f, io.ErrUnexpectedEOF
		}
	}
}

func (c *sse) mustNext(t testing.TB) frame {
	t.Helper()
	f, err := c.next()
	if err != nil {
		t.Fatalf("event stream: %v", err)
	}
	return f
}

func decodeEvent(t testing.TB, f frame) eventData {
	t.Helper()
	var d eventData
	if err := json.Unmarshal([]byte(f.data), &d); err != nil {
		t.Fatalf("event %s: %v in %s", f.name, err, f.data)
	}
	return d
}

func volumeEvent(v int) hooks.Event { return hooks.Volume(uint16(v)) }

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

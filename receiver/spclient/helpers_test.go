package spclient

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

const testDeviceID = "0123456789abcdef0123456789abcdef01234567"

// fakeTime is the client's clock: Sleep records the wait and moves the
// clock on instead of sleeping.
type fakeTime struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeTime() *fakeTime {
	// A whole second, so that an HTTP date converts to an exact wait.
	return &fakeTime{now: time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)}
}

func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTime) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
	f.mu.Unlock()
	return ctx.Err()
}

func (f *fakeTime) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// received is one request as the server saw it.
type received struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// step is a fault for one request; the zero step passes it on.
type step struct {
	status     int
	retryAfter string
	body       string
	drop       bool // close the connection without an answer
}

// scripted records every request and answers the first ones from a script
// before handing the rest to next.
type scripted struct {
	mu    sync.Mutex
	steps []step
	got   []received
	next  http.Handler
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.got = append(s.got, received{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
	var st step
	if len(s.steps) > 0 {
		st, s.steps = s.steps[0], s.steps[1:]
	}
	s.mu.Unlock()
	switch {
	case st.drop:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	case st.status != 0:
		if st.retryAfter != "" {
			w.Header().Set("Retry-After", st.retryAfter)
		}
		w.WriteHeader(st.status)
		_, _ = io.WriteString(w, st.body)
		return
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	s.next.ServeHTTP(w, r)
}

func (s *scripted) add(st ...step) {
	s.mu.Lock()
	s.steps = append(s.steps, st...)
	s.mu.Unlock()
}

func (s *scripted) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

// tokens is a token source that counts its calls; a forced call hands out
// the next token.
type tokens struct {
	mu     sync.Mutex
	n      int
	forced []bool
}

func (tk *tokens) Token(_ context.Context, force bool) (string, error) {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	tk.forced = append(tk.forced, force)
	if force {
		tk.n++
	}
	return "tok-" + string(rune('a'+tk.n)), nil
}

func (tk *tokens) calls() []bool {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	return append([]bool(nil), tk.forced...)
}

type env struct {
	srv    *spotifytest.SpclientServer
	script *scripted
	tm     *fakeTime
	tk     *tokens
	c      *Client
}

// newEnv starts a TLS spclient fake on loopback and a client for it.
func newEnv(t testing.TB, edit func(*Config)) *env {
	t.Helper()
	e := &env{srv: spotifytest.NewSpclientServer(), tm: newFakeTime(), tk: &tokens{}}
	e.script = &scripted{next: e.srv}
	ts := httptest.NewTLSServer(e.script)
	t.Cleanup(ts.Close)
	cfg := Config{
		HTTPClient: ts.Client(),
		Addr:       strings.TrimPrefix(ts.URL, "https://"),
		DeviceID:   testDeviceID,
		Token:      e.tk.Token,
		Now:        e.tm.Now,
		Sleep:      e.tm.Sleep,
		Jitter:     func() float64 { return 0.5 },
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	return e
}

func testState(reason connectpb.PutStateReason, volume uint32) *connectpb.PutStateRequest {
	return &connectpb.PutStateRequest{
		MemberType:     connectpb.MemberType_CONNECT_STATE,
		PutStateReason: reason,
		IsActive:       true,
		Device: &connectpb.Device{
			DeviceInfo: &connectpb.DeviceInfo{
				CanPlay: true, Volume: volume, Name: "Kitchen", DeviceId: testDeviceID,
				DeviceType: 4, // SPEAKER
			},
			PlayerState: &connectpb.PlayerState{ContextUri: "spotify:album:4aawyAB9vmqN3uQ7FjRGTy", IsPlaying: true},
		},
	}
}

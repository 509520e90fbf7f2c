package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/receiver/hooks"
)

func playSomething(s *Server) {
	s.Emit(hooks.Session(true, "conn-1", "alice.smith"))
	s.Emit(hooks.TrackChangedEvent(hooks.Track{ID: "4uLU6hMCjMI75M1A2tKUQC", URI: "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
		Name: "Never Gonna Give You Up", Duration: 213 * time.Second, Artists: []string{"Rick Astley", "Someone Else"},
		Album: "Whenever You Need Somebody", Covers: []string{"https://i.scdn.co/image/a", "https://i.scdn.co/image/b"}}))
	s.Emit(hooks.Position(hooks.Playing, "4uLU6hMCjMI75M1A2tKUQC", 42*time.Second, 213*time.Second))
	s.Emit(hooks.Volume(32768))
}

func TestStatusFoldsHookEvents(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.InitialVolume = 65535 })
	st := h.status(t)
	if st.Session.State != StateOffline || st.Track != nil || st.Volume.Percent != 100 || st.Relay.Mode != RelayAuto {
		t.Fatalf("before any event: %+v", st)
	}
	if st.Device != (DeviceInfo{Name: "Kitchen", ID: "0123abcd", Version: "speakerbox test", Started: testTime.UTC()}) || st.Counters == nil {
		t.Fatalf("device/counters: %+v", st)
	}

	playSomething(h.s)
	st = h.status(t)
	if st.Session != (SessionStatus{State: StatePlaying, User: "al…h"}) {
		t.Errorf("session %+v", st.Session)
	}
	want := TrackStatus{URI: "spotify:track:4uLU6hMCjMI75M1A2tKUQC", Name: "Never Gonna Give You Up",
		Artists: []string{"Rick Astley", "Someone Else"}, Album: "Whenever You Need Somebody",
		CoverURL: "https://i.scdn.co/image/a", DurationMs: 213000, PositionMs: 42000, PositionAt: testTime}
	if st.Track == nil || !equalTrack(*st.Track, want) {
		t.Errorf("track %+v\nwant  %+v", st.Track, want)
	}
	if st.Volume != (VolumeStatus{Percent: 50, Raw: 32768}) {
		t.Errorf("volume %+v", st.Volume)
	}

	h.s.Emit(hooks.Position(hooks.Paused, "4uLU6hMCjMI75M1A2tKUQC", 50*time.Second, 0))
	if st = h.status(t); st.Session.State != StatePaused || st.Track.PositionMs != 50000 || st.Track.Name == "" {
		t.Errorf("after paused: %+v %+v", st.Session, st.Track)
	}
	h.s.Emit(hooks.Session(false, "conn-1", "alice.smith"))
	if st = h.status(t); st.Session != (SessionStatus{State: StateWaiting}) || st.Track != nil {
		t.Errorf("after session_disconnected: %+v %+v", st.Session, st.Track)
	}
	// The whole name is in no answer.
	if _, body := h.do(t, "GET", "/status", ""); strings.Contains(body, "alice") {
		t.Errorf("status leaks the user name: %s", body)
	}
}

func equalTrack(a, b TrackStatus) bool {
	return a.URI == b.URI && a.Name == b.Name && slices.Equal(a.Artists, b.Artists) && a.Album == b.Album &&
		a.CoverURL == b.CoverURL && a.DurationMs == b.DurationMs && a.PositionMs == b.PositionMs && a.PositionAt.Equal(b.PositionAt)
}

func TestStatusTakesTheDeviceView(t *testing.T) {
	var mu sync.Mutex // the hub reads it for every event
	rs := ReceiverStatus{Session: StateLoggingIn}
	set := func(r ReceiverStatus) { mu.Lock(); rs = r; mu.Unlock() }
	h := newHarness(t, func(c *Config) {
		c.Source = StatusSourceFunc(func() ReceiverStatus { mu.Lock(); defer mu.Unlock(); return rs })
	})
	if st := h.status(t); st.Session.State != StateLoggingIn || st.Track != nil {
		t.Fatalf("logging in: %+v", st)
	}
	playSomething(h.s)
	playing := ReceiverStatus{Session: StatePlaying, User: "alice.smith", TrackURI: "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
		PositionMs: 45000, PositionAt: testTime.Add(time.Second), DurationMs: 213000, Volume: 65535}
	set(playing)
	st := h.status(t)
	if st.Session.User != "al…h" || st.Track == nil || st.Track.Name != "Never Gonna Give You Up" || st.Track.PositionMs != 45000 || st.Volume.Percent != 100 {
		t.Errorf("device view with the hooks' description: %+v %+v %+v", st.Session, st.Track, st.Volume)
	}
	playing.TrackURI = "spotify:episode:xyz"
	set(playing)
	if st := h.status(t); st.Track == nil || st.Track.URI != "spotify:episode:xyz" || st.Track.Name != "" {
		t.Errorf("another track than the hooks described: %+v", st.Track)
	}
}

func TestPlayerCommands(t *testing.T) {
	cases := []struct {
		path, body string
		want       Control
	}{
		{"/player/play", "", Control{Kind: Play}},
		{"/player/pause", "{}", Control{Kind: Pause}},
		{"/player/next", "", Control{Kind: Next}},
		{"/player/previous", " { } ", Control{Kind: Previous}},
		{"/player/seek", `{"position_ms": 61000}`, Control{Kind: Seek, PositionMs: 61000}},
		{"/player/seek", `{"position_ms": 0}`, Control{Kind: Seek}},
		{"/player/volume", `{"percent": 100}`, Control{Kind: Volume, Volume: 65535}},
		{"/player/volume", `{"percent": 0}`, Control{Kind: Volume}},
		{"/player/volume", `{"percent": 40}`, Control{Kind: Volume, Volume: 26214}},
	}
	for _, c := range cases {
		t.Run(c.path+c.body, func(t *testing.T) {
			h := newHarness(t, nil)
			if code, body := h.do(t, "POST", c.path, c.body); code != http.StatusNoContent || body != "" {
				t.Fatalf("POST %s %s: %d %q", c.path, c.body, code, body)
			}
			if got := h.ctrl.Calls(); len(got) != 1 || got[0] != c.want {
				t.Fatalf("controller got %+v, want %+v", got, c.want)
			}
		})
	}
}

// Bad input: a 400 (415 for a body of another type) with a reason, and the
// controller never called.
func TestBadInputChangesNothing(t *testing.T) {
	cases := []struct {
		path, body, ct string
		code           int
		reason         string
	}{
		{"/player/seek", "", "", 400, "position_ms is required"},
		{"/player/seek", `{}`, "", 400, "position_ms is required"},
		{"/player/seek", `{"position_ms": -1}`, "", 400, "out of range"},
		{"/player/seek", `{"position_ms": 86400001}`, "", 400, "out of range"},
		{"/player/seek", `{"position_ms": 1.5}`, "", 400, "position_ms must be an integer"},
		{"/player/seek", `{"position_ms": "10"}`, "", 400, "position_ms must be an integer"},
		{"/player/seek", `{"position_ms": 10, "speed": 2}`, "", 400, `unknown field "speed"`},
		{"/player/seek", `{"position_ms": 10}{}`, "", 400, "nothing after it"},
		{"/player/seek", `{"position_ms": 10`, "", 400, "not valid JSON"},
		{"/player/seek", `[10]`, "", 400, "must be a JSON object"},
		{"/player/seek", `null`, "", 400, "must be a JSON object"},
		{"/player/volume", `{"percent": 101}`, "", 400, "percent 101 out of range: 0 to 100"},
		{"/player/volume", `{"percent": -5}`, "", 400, "out of range"},
		{"/player/volume", `{"percent": true}`, "", 400, "percent must be an integer"},
		{"/player/volume", `{"percent": 99999999999999999999}`, "", 400, "percent must be an integer"},
		{"/player/volume", `{"Percent": 10, "raw": 3}`, "", 400, "unknown field"},
		{"/player/volume", `{"percent": 10}`, "text/plain", 415, "application/json"},
		{"/player/volume", `percent=10`, "application/x-www-form-urlencoded", 415, "application/json"},
		{"/player/volume", `{"percent": 10, "pad": "` + strings.Repeat("x", MaxBodyBytes) + `"}`, "", 400, "larger than 4096 bytes"},
		{"/player/play", `{"now": true}`, "", 400, `unknown field "now"`},
		{"/player/pause", `"pause"`, "", 400, "must be a JSON object"},
		{"/relay/on", `{"on": true}`, "", 400, "unknown field"},
		{"/zeroconf/reset-users", `{"user": "x"}`, "", 400, "unknown field"},
		{"/zeroconf/reset-users", `x`, "text/plain", 415, "application/json"},
	}
	for _, c := range cases {
		t.Run(c.path+" "+c.body[:min(len(c.body), 30)], func(t *testing.T) {
			h := newHarness(t, nil)
			before := h.status(t)
			var headers []string
			if c.ct != "" {
				headers = []string{"Content-Type", c.ct}
			}
			code, body := h.do(t, "POST", c.path, c.body, headers...)
			if code != c.code {
				t.Fatalf("POST %s %s: %d %s, want %d", c.path, c.body, code, body, c.code)
			}
			var e errorBody
			if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, c.reason) {
				t.Errorf("answer %s: want a JSON error containing %q", body, c.reason)
			}
			if calls := h.ctrl.Calls(); len(calls) != 0 {
				t.Errorf("controller called: %+v", calls)
			}
			if h.rel.Sets() != 0 || h.zc.Resets() != 0 {
				t.Errorf("relay set %d times, zeroconf reset %d times", h.rel.Sets(), h.zc.Resets())
			}
			if after := h.status(t); !equalStatus(before, after) {
				t.Errorf("status changed:\n%+v\n%+v", before, after)
			}
		})
	}
}

func equalStatus(a, b Status) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestNothingToControl(t *testing.T) {
	h := newHarness(t, nil)
	h.ctrl.err = fmt.Errorf("device: %w", ErrNoSession)
	code, body := h.do(t, "POST", "/player/next", "")
	if code != http.StatusConflict || !strings.Contains(body, "nothing to control") {
		t.Fatalf("no session: %d %s", code, body)
	}
	h.ctrl.err = fmt.Errorf("seek past the end: %w", ErrInvalid)
	if code, body := h.do(t, "POST", "/player/seek", `{"position_ms": 5000000}`); code != http.StatusBadRequest || !strings.Contains(body, "past the end") {
		t.Fatalf("refused by the device: %d %s", code, body)
	}
	h.ctrl.err = fmt.Errorf("receiver: %w", ErrUnavailable)
	if code, body := h.do(t, "POST", "/player/pause", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("device not running: %d %s", code, body)
	}
	h.ctrl.err = context.DeadlineExceeded
	if code, body := h.do(t, "POST", "/player/pause", ""); code != http.StatusGatewayTimeout {
		t.Fatalf("device did not answer: %d %s", code, body)
	}
	h.ctrl.err = errors.New("disk on fire")
	if code, body := h.do(t, "POST", "/player/pause", ""); code != http.StatusInternalServerError || !strings.Contains(body, "disk on fire") {
		t.Fatalf("device failed: %d %s", code, body)
	}
}

func TestMissingParts(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Controller, c.Relay, c.ZeroConf, c.Metrics = nil, nil, nil, nil })
	for path, want := range map[string]int{"/player/play": 503, "/relay/on": 409, "/zeroconf/reset-users": 503} {
		if code, body := h.do(t, "POST", path, ""); code != want {
			t.Errorf("POST %s without its part: %d %s, want %d", path, code, body, want)
		}
	}
	if code, _ := h.do(t, "GET", "/metrics", ""); code != 503 {
		t.Errorf("GET /metrics without a handler: %d", code)
	}
	if st := h.status(t); st.Relay != (RelayStatus{Mode: RelayNone}) {
		t.Errorf("relay without one: %+v", st.Relay)
	}
}

func TestRelayCommands(t *testing.T) {
	h := newHarness(t, nil)
	for _, m := range []RelayMode{RelayOn, RelayOff, RelayAuto, RelayOn} {
		if code, body := h.do(t, "POST", "/relay/"+string(m), ""); code != 204 {
			t.Fatalf("POST /relay/%s: %d %s", m, code, body)
		}
		if st := h.status(t); st.Relay.Mode != m || st.Relay.On != (m == RelayOn) {
			t.Fatalf("after /relay/%s: %+v", m, st.Relay)
		}
	}
}

func TestResetUsers(t *testing.T) {
	h := newHarness(t, nil)
	if code, body := h.do(t, "POST", "/zeroconf/reset-users", "{}"); code != 204 || h.zc.Resets() != 1 {
		t.Fatalf("reset-users: %d %s, resets %d", code, body, h.zc.Resets())
	}
}

func TestMetricsMounted(t *testing.T) {
	h := newHarness(t, nil)
	if code, body := h.do(t, "GET", "/metrics", ""); code != 200 || body != "speakerbox_up 1\n" {
		t.Fatalf("GET /metrics: %d %q", code, body)
	}
}

func TestNotFoundAndMethod(t *testing.T) {
	h := newHarness(t, nil)
	code, body := h.do(t, "GET", "/nope", "")
	if code != 404 || !strings.Contains(body, `"error"`) {
		t.Errorf("unknown path: %d %s", code, body)
	}
	code, body = h.do(t, "GET", "/player/play", "")
	if code != 405 || !strings.Contains(body, "not allowed") {
		t.Errorf("GET on a POST route: %d %s", code, body)
	}
	if code, _ := h.do(t, "DELETE", "/status", ""); code != 405 {
		t.Errorf("DELETE /status: %d", code)
	}
	if len(h.ctrl.Calls()) != 0 {
		t.Errorf("controller called")
	}
}

func TestToken(t *testing.T) {
	const token = "0123456789abcdef0123"
	h := newHarness(t, func(c *Config) { c.Token = token })
	for _, rt := range h.s.routes() {
		for _, auth := range []string{"", "Bearer wrong-token-of-some-size", "Basic " + token, "Bearer " + token + "x", "Bearer"} {
			var headers []string
			if auth != "" {
				headers = []string{"Authorization", auth}
			}
			code, body := h.do(t, rt.method, rt.path, "", headers...)
			if code != http.StatusUnauthorized || !strings.Contains(body, "bearer token") {
				t.Errorf("%s %s with %q: %d %s, want 401", rt.method, rt.path, auth, code, body)
			}
		}
	}
	if len(h.ctrl.Calls()) != 0 || h.rel.Sets() != 0 || h.zc.Resets() != 0 {
		t.Fatalf("something changed without the token")
	}
	if code, body := h.do(t, "POST", "/player/pause", "", "Authorization", "bearer "+token); code != 204 {
		t.Fatalf("with the token: %d %s", code, body)
	}
	if code, _ := h.do(t, "GET", "/status", "", "Authorization", "Bearer "+token); code != 200 {
		t.Fatalf("GET /status with the token: %d", code)
	}
	h.connect(t, "Authorization", "Bearer "+token).mustNext(t)
}

func TestCrossSiteRefused(t *testing.T) {
	h := newHarness(t, nil)
	host := strings.TrimPrefix(h.ts.URL, "http://")
	refused := [][]string{
		{"Origin", "http://evil.example"},
		{"Origin", "null"},
		{"Origin", "http://" + host + ".evil.example"},
		{"Origin", "ftp://" + host},
		{"Sec-Fetch-Site", "cross-site"},
	}
	for _, hd := range refused {
		code, body := h.do(t, "POST", "/player/volume", `{"percent": 10}`, hd...)
		if code != http.StatusForbidden || !strings.Contains(body, "refused") {
			t.Errorf("POST with %s: %s: %d %s, want 403", hd[0], hd[1], code, body)
		}
	}
	if calls := h.ctrl.Calls(); len(calls) != 0 {
		t.Fatalf("cross-site request reached the controller: %+v", calls)
	}
	// The speaker's own page, and scripts (no Origin) are welcome.
	for _, hd := range [][]string{{"Origin", "http://" + host}, {"Sec-Fetch-Site", "same-origin"}, {}} {
		if code, body := h.do(t, "POST", "/player/volume", `{"percent": 10}`, hd...); code != 204 {
			t.Errorf("POST with %v: %d %s", hd, code, body)
		}
	}
	if n := len(h.ctrl.Calls()); n != 3 {
		t.Errorf("controller calls %d, want 3", n)
	}
}

func TestOpenAPIDescribesExactlyTheRoutes(t *testing.T) {
	h := newHarness(t, nil)
	code, body := h.do(t, "GET", "/openapi.json", "")
	if code != 200 {
		t.Fatalf("GET /openapi.json: %d", code)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options":
				described[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	served := map[string]bool{}
	for _, rt := range h.s.routes() {
		served[rt.method+" "+rt.path] = true
		if !described[rt.method+" "+rt.path] {
			t.Errorf("route %s %s is not in openapi.json", rt.method, rt.path)
		}
	}
	for op := range described {
		if !served[op] {
			t.Errorf("openapi.json describes %s, which the server does not have", op)
		}
	}
	if len(served) < 14 {
		t.Errorf("only %d routes", len(served))
	}
	// Every route of the table is what the mux answers (not the fallback).
	for _, rt := range h.s.routes() {
		if rt.path == "/events" {
			continue // a stream; TestEvents* cover it
		}
		code, body := h.do(t, rt.method, rt.path, "")
		if code == 404 || code == 405 {
			t.Errorf("%s %s: %d %s", rt.method, rt.path, code, body)
		}
	}
}

// Without a token, only requests that name the server by address get in:
// a page that re-points its own domain at the speaker (DNS rebinding) is
// same-origin to the browser, but its Host is its domain.
func TestHostMustBeAnAddressWithoutToken(t *testing.T) {
	h := newHarness(t, nil)
	for _, host := range []string{"evil.example:4080", "evil.example", "speaker.local:4080"} {
		code, body := h.do(t, "POST", "/player/pause", "", "Host", host)
		if code != http.StatusForbidden || !strings.Contains(body, "localhost") {
			t.Errorf("Host %s: %d %s", host, code, body)
		}
		if code, _ := h.do(t, "GET", "/status", "", "Host", host); code != http.StatusForbidden {
			t.Errorf("GET /status with Host %s: %d", host, code)
		}
	}
	if n := len(h.ctrl.Calls()); n != 0 {
		t.Fatalf("controller called %d times", n)
	}
	for _, host := range []string{"localhost:4080", "127.0.0.1:4080", "[::1]:4080", "192.168.1.20:4080", "LOCALHOST"} {
		if code, body := h.do(t, "POST", "/player/pause", "", "Host", host); code != 204 {
			t.Errorf("Host %s: %d %s", host, code, body)
		}
	}
	// With a token, names are fine (the token is what a page lacks).
	const token = "0123456789abcdef0123"
	h = newHarness(t, func(c *Config) { c.Token = token })
	if code, body := h.do(t, "POST", "/player/pause", "", "Host", "speaker.local:4080", "Authorization", "Bearer "+token); code != 204 {
		t.Errorf("named host with the token: %d %s", code, body)
	}
}

// The status that goes with a hook event is the event's own: a device view
// that lags it (still playing when session_disconnected comes) does not
// contradict it; where the hooks know of no session, the device tells
// whether it is offline or logging in.
func TestEventStatusFollowsTheEvent(t *testing.T) {
	var mu sync.Mutex
	rs := ReceiverStatus{Session: StatePlaying, User: "alice.smith", TrackURI: "spotify:track:x"}
	h := newHarness(t, func(c *Config) {
		c.Source = StatusSourceFunc(func() ReceiverStatus { mu.Lock(); defer mu.Unlock(); return rs })
	})
	c := h.connect(t)
	c.mustNext(t)
	h.s.Emit(hooks.Session(false, "c", "alice.smith"))
	d := decodeEvent(t, c.mustNext(t))
	if d.Status.Session != (SessionStatus{State: StateWaiting}) || d.Status.Track != nil {
		t.Errorf("session_disconnected with a lagging device: %+v %+v", d.Status.Session, d.Status.Track)
	}
	mu.Lock()
	rs = ReceiverStatus{Session: StateLoggingIn}
	mu.Unlock()
	h.s.Emit(volumeEvent(9))
	if d := decodeEvent(t, c.mustNext(t)); d.Status.Session.State != StateLoggingIn || d.Status.Volume.Raw != 9 {
		t.Errorf("volume_changed while logging in: %+v", d.Status)
	}
}

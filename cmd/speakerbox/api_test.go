package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/localapi"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// waitFor returns the first log line containing substr, waiting for
// writes (not polling) until ctx ends.
func (s *syncBuffer) waitFor(ctx context.Context, t *testing.T, substr string) string {
	t.Helper()
	return s.waitForNth(ctx, t, substr, 1)
}

// waitForNth returns the nth log line containing substr (1 is the first),
// waiting for writes until ctx ends.
func (s *syncBuffer) waitForNth(ctx context.Context, t *testing.T, substr string, n int) string {
	t.Helper()
	for {
		s.mu.Lock()
		seen := 0
		for _, l := range strings.Split(s.b.String(), "\n") {
			if strings.Contains(l, substr) {
				if seen++; seen == n {
					s.mu.Unlock()
					return l
				}
			}
		}
		if s.grew == nil {
			s.grew = make(chan struct{})
		}
		grew := s.grew
		s.mu.Unlock()
		select {
		case <-grew:
		case <-ctx.Done():
			t.Fatalf("no log line number %d with %q; log:\n%s", n, substr, s.String())
		}
	}
}

var apiAddrRe = regexp.MustCompile(`address=(127\.0\.0\.1:\d+)`)

type apiEvent struct {
	name string
	data struct {
		Event  map[string]string `json:"event"`
		Status localapi.Status   `json:"status"`
	}
}

// readEvent reads one SSE event (comments skipped); the first, status,
// has the status as its whole data.
func readEvent(t *testing.T, r *bufio.Reader) apiEvent {
	t.Helper()
	var ev apiEvent
	var data string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			ev.name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		case line == "" && ev.name != "":
			var err error
			if ev.name == "status" {
				err = json.Unmarshal([]byte(data), &ev.data.Status)
			} else {
				err = json.Unmarshal([]byte(data), &ev.data)
			}
			if err != nil {
				t.Fatalf("event %s: %v in %s", ev.name, err, data)
			}
			return ev
		}
	}
}

// The local API of a whole speaker run against the fake Spotify: the
// status and events follow the device's hook events, ZeroConf's reset
// logs the user out, and what is not there answers so.
func TestRunLocalAPI(t *testing.T) {
	r := startConnectRun(t)
	m := apiAddrRe.FindStringSubmatch(r.log.waitFor(r.ctx, t, "local API listening"))
	if m == nil {
		t.Fatal("no API address in the log")
	}
	base := "http://" + m[1]
	req, err := http.NewRequestWithContext(r.ctx, "GET", base+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	ev := readEvent(t, events)
	if ev.name != "status" || ev.data.Status.Device.Name != "Connect Test" || ev.data.Status.Device.ID == "" {
		t.Fatalf("first event %s %+v", ev.name, ev.data.Status)
	}
	for ev.data.Status.Session.State != localapi.StateConnected {
		ev = readEvent(t, events)
	}
	user := ev.data.Status.Session.User
	if user == "" || user == spotifytest.DefaultUsername || !strings.Contains(user, "…") {
		t.Errorf("user %q: want the name shortened", user)
	}

	post := func(path string) (int, string) {
		resp, err := http.Post(base+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	get := func(path string) localapi.Status {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st localapi.Status
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return st
	}
	st := get("/status")
	if st.Relay.Mode != localapi.RelayNone || st.Output.Format != "FLOAT_LE" || !strings.HasPrefix(st.Output.Device, "pipe:") {
		t.Errorf("status: relay %+v output %+v", st.Relay, st.Output)
	}
	if code, body := post("/relay/on"); code != http.StatusConflict {
		t.Errorf("relay/on without a relay: %d %s", code, body)
	}
	// Nothing plays yet: 409, not a pretended success.
	if code, body := post("/player/pause"); code != http.StatusConflict || !strings.Contains(body, "nothing to control") {
		t.Errorf("player/pause before anything plays: %d %s", code, body)
	}

	// A track played from the app: the player's hook events reach the
	// stream too, in order, with the status after each.
	a := r.publish("track", "api", 160, 3, 1)
	r.transferItems("spotify:album:"+"0000000000000000000007", []playItem{a})
	r.pipe.readTo(r.ctx, frameRate)
	for ev.name != "track_changed" {
		ev = readEvent(t, events)
	}
	if ev.data.Event["URI"] != a.uri || ev.data.Event["NAME"] != "Item api" || ev.data.Status.Track == nil || ev.data.Status.Track.Name != "Item api" ||
		len(ev.data.Status.Track.Artists) != 1 || ev.data.Status.Track.Artists[0] != "Band" || ev.data.Status.Track.Album != "Album" {
		t.Errorf("track_changed: %+v %+v", ev.data.Event, ev.data.Status.Track)
	}
	for ev.name != "playing" {
		ev = readEvent(t, events)
	}
	if st := ev.data.Status; st.Session.State != localapi.StatePlaying || st.Track == nil || st.Track.URI != a.uri || st.Track.DurationMs <= 0 {
		t.Errorf("playing: %+v %+v", st.Session, st.Track)
	}
	if st := get("/status"); st.Track == nil || st.Track.URI != a.uri {
		t.Errorf("GET /status while playing: %+v", st.Track)
	} else if _, ok := st.Counters["speakerbox_audio_decoded_seconds_total"]; !ok || st.Counters["speakerbox_connect_state_publishes_total"] < 1 {
		// The metrics run wires in reach the status: the device has
		// published its state at least once by now.
		t.Errorf("GET /status counters: %v", st.Counters)
	}
	if resp, err := http.Get(base + "/metrics"); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "# TYPE speakerbox_audio_underruns_total counter") || !strings.Contains(string(b), "speakerbox_build_info{") {
			t.Errorf("GET /metrics: %d\n%.400s", resp.StatusCode, b)
		}
	}
	// The report the page downloads carries the same counters.
	if resp, err := http.Get(base + "/report"); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "\nspeakerbox_audio_underruns_total ") {
			t.Errorf("GET /report: %d, no counters in:\n%.2000s", resp.StatusCode, b)
		}
	}

	// The player commands reach the device; its hook events come back.
	postJSON := func(path, body string) (int, string) {
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cut := r.pipe.len()
	if code, body := post("/player/pause"); code != http.StatusNoContent {
		t.Fatalf("player/pause: %d %s", code, body)
	}
	// The pipe keeps taking sound (silence once paused): the player's
	// output goroutine, which reports the pause, must not be stuck on it.
	r.awaitPiece("silence after the pause", cut, make([]float32, matchLen), 0, a.ref)
	for ev.name != "paused" {
		ev = readEvent(t, events)
	}
	if st := ev.data.Status; st.Session.State != localapi.StatePaused || st.Track == nil || st.Track.URI != a.uri {
		t.Errorf("paused: %+v %+v", st.Session, st.Track)
	}
	if code, body := postJSON("/player/volume", `{"percent": 20}`); code != http.StatusNoContent {
		t.Fatalf("player/volume: %d %s", code, body)
	}
	for ev.name != "volume_changed" {
		ev = readEvent(t, events)
	}
	if v := ev.data.Status.Volume; v.Percent != 20 || ev.data.Event["VOLUME"] != "13107" {
		t.Errorf("volume_changed: %+v %v", v, ev.data.Event)
	}
	// Past the end of the track: the device refuses, the API says so.
	if code, body := postJSON("/player/seek", `{"position_ms": 3000000}`); code != http.StatusBadRequest {
		t.Errorf("seek past the end: %d %s", code, body)
	}
	if code, body := post("/player/play"); code != http.StatusNoContent {
		t.Fatalf("player/play: %d %s", code, body)
	}
	r.pipe.readTo(r.ctx, r.pipe.len()+frameRate/2) // silence or sound, the output goes on
	for ev.name != "playing" {
		ev = readEvent(t, events)
	}
	if st := ev.data.Status; st.Session.State != localapi.StatePlaying {
		t.Errorf("playing again: %+v", st.Session)
	}

	if code, body := post("/zeroconf/reset-users"); code != http.StatusNoContent {
		t.Fatalf("reset-users: %d %s", code, body)
	}
	for ev.name != "session_disconnected" {
		ev = readEvent(t, events)
	}
	if ev.data.Status.Session != (localapi.SessionStatus{State: localapi.StateWaiting}) {
		t.Errorf("after reset-users: %+v", ev.data.Status.Session)
	}
	// Nothing to control now.
	if code, body := post("/player/next"); code != http.StatusConflict {
		t.Errorf("player/next without a session: %d %s", code, body)
	}
	if c := r.shutdown(); c != exitOK {
		t.Fatalf("exit %d", c)
	}
}

// A speaker asked to listen beyond loopback without a token does not
// start: exit 2, naming the key, before anything is advertised.
func TestRunRefusesAnOpenAPIWithoutToken(t *testing.T) {
	state := t.TempDir()
	_, errOut, code := runCmd(t, speakerbox(t, []string{"SPEAKERBOX_API_ADDRESS=0.0.0.0:0"},
		"run", "--state_dir", state, "--audio.output", "null", "--zeroconf.interfaces", "lo"))
	if code != exitUsage {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, errOut)
	}
	for _, w := range []string{"api.token", `"0.0.0.0:0"`, "env SPEAKERBOX_API_ADDRESS", "beyond this machine"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}
	if strings.Contains(errOut, "zeroconf HTTP API listening") {
		t.Errorf("discovery started:\n%s", errOut)
	}
}

// fakeSwitch records what reaches the amplifier.
type fakeSwitch struct {
	mu   sync.Mutex
	seq  []bool
	fail error
}

func (f *fakeSwitch) Set(_ context.Context, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.seq = append(f.seq, on)
	return nil
}

func (f *fakeSwitch) last() (bool, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seq) == 0 {
		return false, 0
	}
	return f.seq[len(f.seq)-1], len(f.seq)
}

func TestRelayOverride(t *testing.T) {
	ctx := context.Background()
	sw := &fakeSwitch{}
	r := newRelayOverride(sw)

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check := func(wantOn bool, wantMode localapi.RelayMode, wantSwitched bool, wantN int) {
		t.Helper()
		on, mode := r.RelayState()
		last, n := sw.last()
		if on != wantOn || mode != wantMode || last != wantSwitched || n != wantN {
			t.Fatalf("state on=%v mode=%s, switch last=%v after %d; want on=%v mode=%s last=%v after %d",
				on, mode, last, n, wantOn, wantMode, wantSwitched, wantN)
		}
	}
	// Auto passes playback's switching through.
	must(r.Set(ctx, true))
	check(true, localapi.RelayAuto, true, 1)
	// Held off: the amplifier goes off; playback's "on" is remembered.
	must(r.SetMode(ctx, localapi.RelayOff))
	check(false, localapi.RelayOff, false, 2)
	must(r.Set(ctx, true))
	check(false, localapi.RelayOff, false, 2)
	// Back to auto: what playback wants now.
	must(r.SetMode(ctx, localapi.RelayAuto))
	check(true, localapi.RelayAuto, true, 3)
	// Held on: the idle timeout's "off" does not reach it.
	must(r.SetMode(ctx, localapi.RelayOn))
	must(r.Set(ctx, false))
	check(true, localapi.RelayOn, true, 4)
	// The shutdown's "off" does, once released.
	r.release()
	must(r.Set(ctx, false))
	check(false, localapi.RelayAuto, false, 5)
	// A switch that fails keeps the mode it had.
	sw.fail = errors.New("relay board gone")
	if err := r.SetMode(ctx, localapi.RelayOn); err == nil || !strings.Contains(err.Error(), "relay board gone") {
		t.Fatalf("failed switch: %v", err)
	}
	check(false, localapi.RelayAuto, false, 5)
}

// fakeDevice is a status that changes when told, with StatusChanged's
// contract: the channel is closed at the next change.
type fakeDevice struct {
	mu      sync.Mutex
	st      localapi.ReceiverStatus
	changed chan struct{}
}

func (f *fakeDevice) ReceiverStatus() localapi.ReceiverStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeDevice) Changes() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *fakeDevice) set(state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Session = state
	close(f.changed)
	f.changed = make(chan struct{})
}

// The device's status changes that no hook tells (logging in) reach the
// event clients as status events; the status itself is the device's.
func TestLocalAPIFollowsDeviceChanges(t *testing.T) {
	cfg := &config.Config{Name: "Kitchen", API: config.API{Address: "127.0.0.1:0"}}
	cfg.Audio.Output = "null"
	a := &app{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	l, err := openLocalAPI(a, "dev-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	dev := &fakeDevice{st: localapi.ReceiverStatus{Session: localapi.StateOffline}, changed: make(chan struct{})}
	l.wire(nil, nil, dev, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.run(ctx, dev.Changes) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	resp, err := http.Get("http://" + l.ln.Addr().String() + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	if ev := readEvent(t, events); ev.data.Status.Session.State != localapi.StateOffline || ev.data.Status.Device.ID != "dev-id" {
		t.Fatalf("first status %+v", ev.data.Status)
	}
	for _, state := range []string{localapi.StateLoggingIn, localapi.StateConnected} {
		dev.set(state)
		// Refreshes may coalesce; the last one shows the latest state.
		for ev := readEvent(t, events); ev.data.Status.Session.State != state; ev = readEvent(t, events) {
			if ev.name != "status" {
				t.Fatalf("event %q", ev.name)
			}
		}
	}
	// Player commands: no device command input wired: 503.
	r, err := http.Post("http://"+l.ln.Addr().String()+"/player/next", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("player/next unwired: %d", r.StatusCode)
	}
}

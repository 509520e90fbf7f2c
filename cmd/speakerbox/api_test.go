package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/localapi"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// waitFor returns the first log line containing substr, waiting for
// writes (not polling) until ctx ends.
func (s *syncBuffer) waitFor(ctx context.Context, t *testing.T, substr string) string {
	t.Helper()
	for {
		s.mu.Lock()
		for _, l := range strings.Split(s.b.String(), "\n") {
			if strings.Contains(l, substr) {
				s.mu.Unlock()
				return l
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
			t.Fatalf("no log line with %q; log:\n%s", substr, s.String())
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
	// The device is wired (api_device.go), and nothing plays yet: 409,
	// not a pretended success.
	if code, body := post("/player/pause"); code != http.StatusConflict || !strings.Contains(body, "nothing to control") {
		t.Errorf("player/pause: %d %s", code, body)
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
	}

	if code, body := post("/zeroconf/reset-users"); code != http.StatusNoContent {
		t.Fatalf("reset-users: %d %s", code, body)
	}
	for ev.name != "session_disconnected" {
		ev = readEvent(t, events)
	}
	// The device's own status is what /status shows; its snapshot may
	// follow the hook event, as a status event of its own.
	for ev.data.Status.Session.State == localapi.StatePlaying {
		ev = readEvent(t, events)
	}
	if ev.data.Status.Session.State != localapi.StateWaiting || ev.data.Status.Session.User != "" {
		t.Errorf("after reset-users: %+v", ev.data.Status.Session)
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

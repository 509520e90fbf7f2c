package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/audio/player"
	"github.com/speakerbox/speakerbox/gpio/amp"
	"github.com/speakerbox/speakerbox/gpio/fakeclock"
	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver"
	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/zeroconfsrv"
)

// rig is a set of sources: the ZeroConf API, the relay and the hook
// runner are the real components; the player's and the device's counters
// are set by the test (their own tests show what moves them).
type rig struct {
	mu    sync.Mutex
	audio player.Stats
	recv  receiver.Stats

	zc     *zeroconfsrv.Handler
	clock  *fakeclock.Clock
	relay  *amp.Relay
	runner *hooks.Runner
	m      *Metrics
	srv    *httptest.Server
}

func newRig(t *testing.T) *rig {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	r := &rig{clock: fakeclock.New(time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC))}
	var err error
	r.zc, err = zeroconfsrv.NewHandler(zeroconfsrv.HandlerConfig{
		Info:   zeroconfsrv.Info{Name: "Kitchen", DeviceID: strings.Repeat("ab", 20)},
		Logger: log,
	}, creds.NewStore(t.TempDir(), log, time.Now), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.relay, err = amp.New(context.Background(), amp.Config{
		Power: amp.SwitchFunc(func(context.Context, bool) error { return nil }),
		Clock: r.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.runner, err = hooks.New(hooks.Config{Log: log, BaseEnv: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.runner.Close(context.Background()) })
	r.m = New(Sources{
		Build: BuildInfo{Version: "v1.2.3", GoVersion: "go1.26.8", Arch: "arm/v6"},
		Audio: func() player.Stats {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.audio
		},
		Receiver: func() receiver.Stats {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.recv
		},
		ZeroConf: r.zc.Stats,
		Relay:    func() (amp.Stats, bool) { return r.relay.Stats(), true },
		Hooks:    func() (hooks.Stats, bool) { return r.runner.Stats(), true },
		Process:  true,
	})
	r.srv = httptest.NewServer(r.m.Handler())
	t.Cleanup(r.srv.Close)
	return r
}

func (r *rig) scrape(t *testing.T) map[string]*family {
	t.Helper()
	resp, err := http.Get(r.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ContentType {
		t.Fatalf("HTTP %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	fams, err := parseExposition(string(body))
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	return fams
}

// value is the sample of series (name{labels}, labels sorted) in fams,
// checking its family's type.
func value(t *testing.T, fams map[string]*family, fam, typ, series string) float64 {
	t.Helper()
	f := fams[fam]
	if f == nil {
		t.Fatalf("no family %s", fam)
	}
	if f.typ != typ {
		t.Fatalf("%s is %q, want %s", fam, f.typ, typ)
	}
	v, ok := f.samples[series]
	if !ok {
		t.Fatalf("no series %s; %s has %v", series, fam, f.samples)
	}
	return v
}

type check struct {
	fam, typ, series string
	want             float64
}

func expect(t *testing.T, fams map[string]*family, checks []check) {
	t.Helper()
	for _, c := range checks {
		if got := value(t, fams, c.fam, c.typ, c.series); got != c.want {
			t.Errorf("%s = %v, want %v", c.series, got, c.want)
		}
	}
}

// TestScrape: every family is there with its type from the first scrape,
// and each follows its component: a ZeroConf refusal through the real
// handler, the real relay switched on for 90 s of its clock, a real hook
// that fails, and the player's and the device's counters.
func TestScrape(t *testing.T) {
	r := newRig(t)
	fams := r.scrape(t)
	expect(t, fams, []check{
		{nameBuildInfo, "gauge", `speakerbox_build_info{arch="arm/v6",goversion="go1.26.8",version="v1.2.3"}`, 1},
		{nameUnderruns, "counter", nameUnderruns + "{}", 0},
		{nameXruns, "counter", nameXruns + "{}", 0},
		{nameBufferFill, "gauge", nameBufferFill + "{}", 0},
		{nameDecodeSeconds, "counter", nameDecodeSeconds + "{}", 0},
		{nameDecodedSeconds, "counter", nameDecodedSeconds + "{}", 0},
		{nameDecodePerSecond, "gauge", nameDecodePerSecond + "{}", 0},
		{nameReconnects, "counter", nameReconnects + `{component="access_point"}`, 0},
		{nameReconnects, "counter", nameReconnects + `{component="dealer"}`, 0},
		{nameReconnects, "counter", nameReconnects + `{component="chain"}`, 0},
		{nameLoginFailures, "counter", nameLoginFailures + `{reason="access_point_unreachable"}`, 0},
		{nameLoginFailures, "counter", nameLoginFailures + `{reason="services_unreachable"}`, 0},
		{namePublishes, "counter", namePublishes + "{}", 0},
		{namePublishFailures, "counter", namePublishFailures + "{}", 0},
		{namePublishRateLimits, "counter", namePublishRateLimits + "{}", 0},
		{nameAddUser, "counter", nameAddUser + `{code="200",result="accepted",status="101"}`, 0},
		{nameRelaySwitches, "counter", nameRelaySwitches + `{to="on"}`, 0},
		{nameRelaySwitches, "counter", nameRelaySwitches + `{to="off"}`, 0},
		{nameRelayOnSeconds, "counter", nameRelayOnSeconds + "{}", 0},
		{nameRelayOn, "gauge", nameRelayOn + "{}", 0},
		{nameHookRuns, "counter", nameHookRuns + `{hook="on_event"}`, 0},
		{nameHookFailures, "counter", nameHookFailures + `{hook="on_event"}`, 0},
		{nameHookDropped, "counter", nameHookDropped + "{}", 0},
	})
	if f := fams["go_goroutines"]; f == nil || f.typ != "gauge" {
		t.Errorf("no go_goroutines gauge with Process set")
	}
	for name, f := range fams {
		if strings.HasPrefix(name, "speakerbox_") && (strings.HasSuffix(name, "_total") != (f.typ == "counter")) {
			t.Errorf("%s: type %s (counters and only counters end in _total)", name, f.typ)
		}
	}

	// The components move.
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(url.Values{"action": {"addUser"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.zc.ServeHTTP(w, req)
	if w.Code != http.StatusBadRequest {
		t.Fatalf("addUser without arguments: HTTP %d", w.Code)
	}
	if err := r.relay.Request(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(90 * time.Second)
	if err := r.runner.Command(context.Background(), "amp_on_command", "exit 4", hooks.Amp(true)); err == nil {
		t.Fatal("failing command ran without error")
	}
	r.mu.Lock()
	r.audio = player.Stats{Underruns: 2, Xruns: 3, BufferFill: 0.5, DecodeTime: 250 * time.Millisecond, DecodedAudio: 10 * time.Second}
	r.recv = receiver.Stats{
		Reconnects:    map[string]uint64{receiver.ReconnectDealer: 4},
		LoginFailures: map[string]uint64{"BadCredentials": 1, `odd "reason"` + "\n": 1},
	}
	r.recv.Publish.Published, r.recv.Publish.Failed, r.recv.Publish.RateLimited = 7, 1, 2
	r.mu.Unlock()

	fams = r.scrape(t)
	expect(t, fams, []check{
		{nameUnderruns, "counter", nameUnderruns + "{}", 2},
		{nameXruns, "counter", nameXruns + "{}", 3},
		{nameBufferFill, "gauge", nameBufferFill + "{}", 0.5},
		{nameDecodeSeconds, "counter", nameDecodeSeconds + "{}", 0.25},
		{nameDecodedSeconds, "counter", nameDecodedSeconds + "{}", 10},
		{nameDecodePerSecond, "gauge", nameDecodePerSecond + "{}", 0.025},
		{nameReconnects, "counter", nameReconnects + `{component="dealer"}`, 4},
		{nameReconnects, "counter", nameReconnects + `{component="access_point"}`, 0},
		{nameLoginFailures, "counter", nameLoginFailures + `{reason="BadCredentials"}`, 1},
		{nameLoginFailures, "counter", nameLoginFailures + `{reason="odd__reason__"}`, 1},
		{namePublishes, "counter", namePublishes + "{}", 7},
		{namePublishFailures, "counter", namePublishFailures + "{}", 1},
		{namePublishRateLimits, "counter", namePublishRateLimits + "{}", 2},
		{nameAddUser, "counter", nameAddUser + `{code="400",result="refused",status="303"}`, 1},
		{nameAddUser, "counter", nameAddUser + `{code="200",result="accepted",status="101"}`, 0},
		{nameRelaySwitches, "counter", nameRelaySwitches + `{to="on"}`, 1},
		{nameRelaySwitches, "counter", nameRelaySwitches + `{to="off"}`, 0},
		{nameRelayOnSeconds, "counter", nameRelayOnSeconds + "{}", 90},
		{nameRelayOn, "gauge", nameRelayOn + "{}", 1},
		{nameHookRuns, "counter", nameHookRuns + `{hook="amp_on_command"}`, 1},
		{nameHookFailures, "counter", nameHookFailures + `{hook="amp_on_command"}`, 1},
	})
}

// A speaker without a receiver, a relay or hooks (`speakerbox play`)
// scrapes only what it has.
func TestScrapeLeavesOutMissingParts(t *testing.T) {
	m := New(Sources{Build: BuildInfo{Version: "dev", GoVersion: "go", Arch: "amd64"}})
	var b strings.Builder
	m.WriteTo(&b)
	fams, err := parseExposition(b.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if len(fams) != 1 || fams[nameBuildInfo] == nil {
		t.Fatalf("families %v, want only the build info", fams)
	}
}

func TestHandlerMethods(t *testing.T) {
	h := New(Sources{}).Handler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/metrics", nil))
	if w.Code != http.StatusMethodNotAllowed || !strings.Contains(w.Body.String(), `"error"`) || w.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d %q", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodHead, "/metrics", nil))
	if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Type") != ContentType {
		t.Fatalf("HEAD: %d, %d bytes, %q", w.Code, w.Body.Len(), w.Header().Get("Content-Type"))
	}
}

// Scrapes at once, while the counters move, each read whole and valid.
func TestConcurrentScrapes(t *testing.T) {
	r := newRig(t)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				var b strings.Builder
				r.m.WriteTo(&b)
				if _, err := parseExposition(b.String()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for j := 0; j < 20; j++ {
		r.mu.Lock()
		r.audio.Underruns++
		r.recv.Reconnects = map[string]uint64{receiver.ReconnectChain: uint64(j)}
		r.mu.Unlock()
	}
	wg.Wait()
}

// The parser refuses what Prometheus refuses.
func TestParserRefusesBadOutput(t *testing.T) {
	for _, bad := range []string{
		"a 1",                                // no newline at the end
		"a-b 1\n",                            // bad name
		"a{b=\"x\" 1\n",                      // unterminated labels
		"a{b=x} 1\n",                         // unquoted value
		"a{b=\"\\q\"} 1\n",                   // bad escape
		"a one\n",                            // not a number
		"a 1\na 2\n",                         // series twice
		"a 1\n# TYPE a counter\n",            // TYPE after samples
		"# TYPE a counter\n# TYPE a gauge\n", // TYPE twice
		"# TYPE a counting\n",                // unknown type
		"a{b=\"1\",b=\"2\"} 1\n",             // repeated label
	} {
		if _, err := parseExposition(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	fams, err := parseExposition("# HELP a x\n# TYPE a counter\na{z=\"1\",b=\"q\\\"\\n\"} 2.5 123\n")
	if err != nil || fams["a"].samples[`a{b="q\"\n",z="1"}`] != 2.5 {
		t.Fatalf("%v %+v", err, fams["a"])
	}
}

// TestCountersFollowTheScrape: Counters gives the same series and values a
// scrape shows, without the Go runtime's.
func TestCountersFollowTheScrape(t *testing.T) {
	r := newRig(t)
	r.mu.Lock()
	r.audio.Underruns = 3
	r.mu.Unlock()
	c := r.m.Counters()
	if c["speakerbox_audio_underruns_total"] != 3 {
		t.Fatalf("underruns %v in %v", c["speakerbox_audio_underruns_total"], c)
	}
	fams := r.scrape(t)
	for series, v := range c {
		// The parser keys series as name{sorted labels}.
		fam, key := series, series+"{}"
		if i := strings.IndexByte(series, '{'); i >= 0 {
			fam = series[:i]
			labels := strings.Split(strings.TrimSuffix(series[i+1:], "}"), ",")
			sort.Strings(labels)
			key = fam + "{" + strings.Join(labels, ",") + "}"
		}
		f := fams[fam]
		if f == nil {
			t.Fatalf("%s is not in the scrape", series)
		}
		if got, ok := f.samples[key]; !ok || got != v {
			t.Errorf("%s = %v in Counters, %v (%v) in the scrape", series, v, got, ok)
		}
	}
	for series := range c {
		if strings.HasPrefix(series, "go_") || strings.HasPrefix(series, "process_") {
			t.Errorf("runtime series %s in Counters", series)
		}
	}
}

package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/speakerbox/speakerbox/gpio/amp"
	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/receiver/playback"
)

// The speaker's registry carries the version main was linked with and the
// amplifier glue's counters; parts it does not have are left out.
func TestSpeakerMetrics(t *testing.T) {
	out, err := playback.NewOutput(context.Background(), playback.OutputConfig{})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	speakerMetrics(out, nil, nil, nil).Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, `speakerbox_build_info{version="`+version+`"`) {
		t.Fatalf("HTTP %d:\n%s", w.Code, body)
	}
	// No relay, no hook runner, no player, no device: none of theirs.
	// (The relay's and the hooks' own metrics are tested in the metrics
	// package with the real components.)
	for _, absent := range []string{"speakerbox_relay_", "speakerbox_hook_", "speakerbox_audio_", "speakerbox_reconnects_total", "speakerbox_zeroconf_"} {
		if strings.Contains(body, absent) {
			t.Errorf("%s* without its part:\n%s", absent, body)
		}
	}
}

// The metrics library stays in cmd: the components count with their own
// atomics, and only cmd/speakerbox/internal/metrics knows the library.
func TestMetricsLibraryOnlyInCmd(t *testing.T) {
	const lib = "github.com/VictoriaMetrics/metrics"
	out, err := exec.Command("go", "list", "-test", "-f", `{{.ImportPath}}|{{join .Deps ","}}`, modulePath+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	users := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, "|")
		if !strings.Contains(","+deps+",", ","+lib+",") {
			continue
		}
		users++
		if !under(normalise(pkg), "cmd/speakerbox") {
			t.Errorf("%s depends on %s: components expose Stats, cmd reads them", normalise(pkg), lib)
		}
	}
	if users == 0 {
		t.Fatalf("no package depends on %s: the check looks at nothing", lib)
	}
}

// With a relay and hooks, the glue's counters are in the registry.
func TestSpeakerMetricsWithRelayAndHooks(t *testing.T) {
	runner, err := hooks.New(hooks.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer runner.Close(context.Background())
	out, err := playback.NewOutput(context.Background(), playback.OutputConfig{
		Relay: &amp.Config{Power: amp.SwitchFunc(func(context.Context, bool) error { return nil })},
		Hooks: runner,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := out.BeforeOpen(context.Background()); err != nil { // switches the relay on
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	speakerMetrics(out, nil, nil, nil).Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := w.Body.String()
	for _, want := range []string{"speakerbox_relay_switches_total{to=\"on\"} 1\n", "speakerbox_relay_on 1\n", "speakerbox_hook_runs_total{hook="} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in:\n%s", want, body)
		}
	}
}

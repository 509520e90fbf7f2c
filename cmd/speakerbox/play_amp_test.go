package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// `speakerbox play` drives the relay and the hooks as the receiver will:
// off at start, on before the first sample, off after the idle timeout
// once the file has ended; librespot-style events around it.
func TestPlayDrivesRelayAndHooks(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "events")
	sinkEvents := filepath.Join(dir, "sink")
	hook := fmt.Sprintf(`if [ "$PLAYER_EVENT" = sink ]; then echo "$SINK_STATUS" >> %q; else echo "$PLAYER_EVENT" >> %q; fi`, sinkEvents, events)
	cmd := speakerbox(t, gpioEnv(dir,
		"SPEAKERBOX_GPIO_RELAY_LINE=SBTEST_RELAY",
		"SPEAKERBOX_GPIO_MUTE_LINE=SBTEST_MUTE",
		"SPEAKERBOX_GPIO_WARMUP=20ms",
		"SPEAKERBOX_GPIO_IDLE_TIMEOUT=100ms",
		"SPEAKERBOX_HOOKS_ON_EVENT="+hook,
	), "play", "--output", "wav", "--audio.path", filepath.Join(dir, "out.wav"), "../../audio/decode/testdata/tiny.ogg")
	stdout, stderr, code := runCmd(t, cmd)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	// Off at start, on, off after the idle timeout (then the orderly
	// shutdown and the exit guard drive it off again).
	relay, mute := lineLog(t, dir, "SBTEST_RELAY"), lineLog(t, dir, "SBTEST_MUTE")
	if !strings.HasPrefix(relay, "010") || strings.Trim(relay[3:], "0") != "" {
		t.Errorf("relay levels %q", relay)
	}
	if !strings.HasPrefix(mute, "101") || strings.Trim(mute[3:], "1") != "" {
		t.Errorf("mute levels %q", mute)
	}
	if !strings.Contains(stderr, "amplifier idle timeout") {
		t.Errorf("the relay did not go off by the idle timeout:\n%s", stderr)
	}
	read := func(p string) []string {
		b, _ := os.ReadFile(p)
		return strings.Fields(string(b))
	}
	if got, want := read(sinkEvents), []string{"running", "temporarily_closed", "closed"}; !slices.Equal(got, want) {
		t.Errorf("sink events %q, want %q", got, want)
	}
	if got, want := read(events), []string{"amp_on", "track_changed", "playing", "end_of_track", "stopped", "amp_off"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q\n%s", got, want, stderr)
	}
}

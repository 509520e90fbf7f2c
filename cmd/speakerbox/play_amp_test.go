package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// `speakerbox play` drives the relay and the hooks as the receiver will:
// off at start, on before the first sample, off after the idle timeout
// once the file has ended; librespot-style events around it, in one order
// that does not depend on scheduling (one queue, fed in the order things
// happened).
func TestPlayDrivesRelayAndHooks(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "events")
	hook := fmt.Sprintf(`echo "$PLAYER_EVENT${SINK_STATUS:+:$SINK_STATUS}" >> %q`, events)
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
	want := []string{"amp_on", "sink:running", "track_changed", "playing", "end_of_track",
		"sink:temporarily_closed", "stopped", "sink:closed", "amp_off"}
	if got := read(events); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q\n%s", got, want, stderr)
	}
}

// `speakerbox run` drives the relay off at start (whatever level the line
// had) and keeps it off with nothing playing, through to SIGTERM.
func TestRunKeepsRelayOff(t *testing.T) {
	dir := t.TempDir()
	cmd := speakerbox(t, gpioEnv(dir, "SPEAKERBOX_GPIO_RELAY_LINE=SBTEST_RELAY", "SPEAKERBOX_GPIO_ACTIVE_LOW=true"),
		"run", "--audio.output", "null", "--zeroconf.interfaces", "lo")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "speaker starting") {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("speaker did not start:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := lineLog(t, dir, "SBTEST_RELAY"); got != "1" {
		t.Fatalf("relay levels at start %q, want 1 (off, active low)", got)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	if got := lineLog(t, dir, "SBTEST_RELAY"); strings.Contains(got, "0") {
		t.Fatalf("relay levels %q: switched on with nothing playing", got)
	}
}

type syncBuffer struct {
	mu   sync.Mutex
	b    strings.Builder
	grew chan struct{} // closed on the next write (waitFor)
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.grew != nil {
		close(s.grew)
		s.grew = nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func gpioEnv(dir string, extra ...string) []string {
	return append([]string{"SBTEST_GPIO_DIR=" + dir, "GORACE=atexit_sleep_ms=0",
		"SPEAKERBOX_STATE_DIR=" + filepath.Join(dir, "state")}, extra...)
}

func lineLog(t *testing.T, dir, line string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, line+".log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func TestDoctorGPIOBlinkAndOff(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := runCmd(t, speakerbox(t, gpioEnv(dir), "doctor", "gpio", "--line", "SBTEST_RELAY", "--blink", "--count", "2", "--period", "1ms"))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	// on off on off, off at the end, and the guard's off.
	if got := lineLog(t, dir, "SBTEST_RELAY"); got != "101000" {
		t.Fatalf("levels %q\n%s", got, stdout)
	}
	if !strings.Contains(stdout, "relay on (line high)") {
		t.Errorf("stdout:\n%s", stdout)
	}

	// Active low, line from the configuration.
	dir = t.TempDir()
	_, stderr, code = runCmd(t, speakerbox(t, gpioEnv(dir, "SPEAKERBOX_GPIO_RELAY_LINE=SBTEST_RELAY", "SPEAKERBOX_GPIO_ACTIVE_LOW=true"), "doctor", "gpio", "--off"))
	if code != 0 || lineLog(t, dir, "SBTEST_RELAY") != "11" {
		t.Fatalf("active-low off: exit %d, levels %q\n%s", code, lineLog(t, dir, "SBTEST_RELAY"), stderr)
	}
}

func TestDoctorGPIOOnHoldsUntilSignal(t *testing.T) {
	dir := t.TempDir()
	cmd := speakerbox(t, gpioEnv(dir), "doctor", "gpio", "--line", "SBTEST_RELAY", "--on")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "holding") {
	}
	if got := lineLog(t, dir, "SBTEST_RELAY"); got != "1" {
		t.Fatalf("levels while holding %q", got)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	for sc.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := lineLog(t, dir, "SBTEST_RELAY"); !strings.HasPrefix(got, "10") {
		t.Fatalf("levels %q, want on then off", got)
	}
}

func TestDoctorGPIOErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--on", "--off"}, exitUsage, "one of --on, --off, --blink"},
		{[]string{"--on"}, exitUsage, "no line"},
		{[]string{"--line", "17", "--on"}, exitFailure, "ambiguous"},
		{[]string{"--line", "NOPE", "--off"}, exitFailure, `"NOPE": no line has this name`},
		{[]string{"--line", "SBTEST_RELAY", "--blink", "--period", "0s"}, exitUsage, "--period"},
	} {
		_, stderr, code := runCmd(t, speakerbox(t, gpioEnv(dir), append([]string{"doctor", "gpio"}, c.args...)...))
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("doctor gpio %q: exit %d, stderr %q; want %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
	if got := lineLog(t, dir, "SBTEST_RELAY"); got != "" {
		t.Errorf("a refused command drove the line: %q", got)
	}
	// Without an action it only finds the line.
	stdout, _, code := runCmd(t, speakerbox(t, gpioEnv(dir), "doctor", "gpio", "--line", "SBTEST_RELAY"))
	if code != 0 || !strings.Contains(stdout, "line SBTEST_RELAY found") || lineLog(t, dir, "SBTEST_RELAY") != "" {
		t.Errorf("doctor gpio without action: exit %d\n%s", code, stdout)
	}
}

package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/internal/testenv"
)

const unitPath = "../../buildroot/board/speakerbox/speakerbox.service"

// unitSettings reads a systemd unit's [Service] section: key -> values.
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "["):
			section = l
		case section == "[Service]":
			k, v, _ := strings.Cut(l, "=")
			out[k] = append(out[k], v)
		}
	}
	return out
}

// The service must reach the GPIO character devices and the sound devices
// under its device policy, and switch the relay off after any end of the
// process, SIGKILL included.
func TestUnitReachesGPIO(t *testing.T) {
	s := unitSettings(t, unitPath)
	if got := s["DevicePolicy"]; !slices.Equal(got, []string{"closed"}) {
		t.Errorf("DevicePolicy = %q", got)
	}
	for _, want := range []string{"char-gpiochip rw", "char-alsa rw"} {
		if !slices.Contains(s["DeviceAllow"], want) {
			t.Errorf("DeviceAllow lacks %q: %q", want, s["DeviceAllow"])
		}
	}
	groups := strings.Fields(strings.Join(s["SupplementaryGroups"], " "))
	for _, want := range []string{"gpio", "audio"} {
		if !slices.Contains(groups, want) {
			t.Errorf("SupplementaryGroups lacks %s: %q", want, groups)
		}
	}
	// PrivateDevices= would hide /dev/gpiochip* whatever DeviceAllow says.
	if v := s["PrivateDevices"]; len(v) > 0 && v[len(v)-1] != "no" {
		t.Errorf("PrivateDevices=%s hides the GPIO chips", v[len(v)-1])
	}
	post := s["ExecStopPost"]
	if len(post) != 1 || !strings.HasSuffix(post[0], "speakerbox doctor gpio --off") {
		t.Fatalf("ExecStopPost = %q, want the relay switched off", post)
	}
	// The command line it runs is valid, and succeeds with no relay.
	args := strings.Fields(post[0])[1:]
	stdout, stderr, code := runCmd(t, speakerbox(t, gpioEnv(t.TempDir()), args...))
	if code != 0 || !strings.Contains(stdout, "nothing to switch off") {
		t.Fatalf("%q: exit %d\n%s%s", args, code, stdout, stderr)
	}
}

// The unit is a notify service with a watchdog, restarted when the
// watchdog fires, and its WatchdogSec leaves the loops the time the
// speaker's own ping rounds give them (half of it per round, three
// quarters of a round per ping).
func TestUnitNotifyWatchdog(t *testing.T) {
	s := unitSettings(t, unitPath)
	if got := s["Type"]; !slices.Equal(got, []string{"notify"}) {
		t.Errorf("Type = %q, want notify", got)
	}
	if got := s["NotifyAccess"]; len(got) > 0 && got[len(got)-1] != "main" {
		t.Errorf("NotifyAccess = %q: hooks inherit NOTIFY_SOCKET, only the main process may notify", got)
	}
	if got := s["Restart"]; !slices.Equal(got, []string{"on-failure"}) && !slices.Equal(got, []string{"always"}) {
		t.Errorf("Restart = %q: a watchdog timeout would not restart the speaker", got)
	}
	w := s["WatchdogSec"]
	if len(w) != 1 {
		t.Fatalf("WatchdogSec = %q, want one value", w)
	}
	d, err := time.ParseDuration(w[0] + "s")
	if err != nil {
		t.Fatalf("WatchdogSec=%s: %v (want plain seconds)", w[0], err)
	}
	// A loop may wait for the default hooks.timeout (10 s) plus warm-up
	// before it answers; a ping may take three eighths of WatchdogSec.
	if d*3/8 <= 10*time.Second+500*time.Millisecond {
		t.Errorf("WatchdogSec=%v leaves a ping %v: less than the default hook timeout plus warm-up", d, d*3/8)
	}
}

// systemd-analyze verify parses the unit as systemd would; it exits 0 even
// for unknown keys and bad values ("ignoring"), so any output fails.
func TestUnitVerifies(t *testing.T) {
	tool := testenv.Tool(t, "systemd-analyze", "systemd")
	data, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	// verify wants the ExecStart binaries to exist: point them at this
	// test binary.
	dir := t.TempDir()
	unit := strings.ReplaceAll(string(data), "/usr/local/bin/speakerbox", os.Args[0])
	p := filepath.Join(dir, "speakerbox.service")
	if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", p).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The check can fail: a broken copy is reported.
	bad := strings.Replace(unit, "\nDevicePolicy=closed\n", "\nDevicePolicy=bogus\n", 1)
	if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command(tool, "verify", p).CombinedOutput(); !strings.Contains(string(out), "device policy") {
		t.Fatalf("verify did not notice a bad DevicePolicy: %s", out)
	}
}

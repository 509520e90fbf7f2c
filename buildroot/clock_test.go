package buildroot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClockScript runs S20clock under BusyBox in a temporary root, with
// `date` replaced (DATE_CMD) by a fake that reads the time from a file and records
// what would have been set, so the host's clock is never touched.
func TestClockScript(t *testing.T) {
	r := newScriptRoot(t)
	copyFile(t, filepath.Join(overlay, "etc/init.d/S20clock"), filepath.Join(r.dir, "etc/init.d/S20clock"))
	now := filepath.Join(r.dir, "fake-now")
	set := filepath.Join(r.dir, "fake-set")
	fake := "#!" + r.busybox + " sh\n" +
		"case $1 in\n" +
		"+%s) cat " + now + " ;;\n" +
		"-s) echo \"$2\" >>" + set + " ;;\n" +
		"*) exit 1 ;;\n" +
		"esac\n"
	date := filepath.Join(r.dir, "fake-date")
	if err := os.WriteFile(date, []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	r.env = append(r.env, "DATE_CMD="+date)
	os.Remove(filepath.Join(r.dir, "bin/ntpd")) // the same answer whatever the host's BusyBox has
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return string(b)
	}
	buildTime := filepath.Join(r.dir, "etc/speakerbox/build-time")
	saved := filepath.Join(r.dir, "var/lib/speakerbox/clock")

	for _, tc := range []struct {
		name                   string
		build, saved, now, set string
	}{
		{"behind the build time", "2000\n", "1500\n", "1000", "@2000\n"},
		{"behind the saved time", "2000\n", "3000\n", "1000", "@3000\n"},
		{"a damaged saved time counts as none", "2000\n", "30x0\n", "1000", "@2000\n"},
		{"ahead of both", "2000\n", "3000\n", "5000", ""},
		{"no floor at all", "", "", "1000", ""},
	} {
		os.Remove(set)
		os.Remove(saved)
		os.Remove(buildTime)
		if tc.build != "" {
			write(buildTime, tc.build)
		}
		if tc.saved != "" {
			write(saved, tc.saved)
		}
		write(now, tc.now)
		out, code := r.run("etc/init.d/S20clock", "start")
		if code != 0 {
			t.Fatalf("%s: start: %d %q", tc.name, code, out)
		}
		if got := read(set); got != tc.set {
			t.Errorf("%s: date -s %q, want %q (output %q)", tc.name, got, tc.set, out)
		}
		if !strings.Contains(out, "no ntpd") {
			t.Errorf("%s: no word about the missing ntpd: %q", tc.name, out)
		}
		// stop saves the time for the next boot's floor, and ends the
		// hourly saver.
		write(now, "7000\n")
		if out, code := r.run("etc/init.d/S20clock", "stop"); code != 0 {
			t.Fatalf("%s: stop: %d %q", tc.name, code, out)
		}
		if got := read(saved); got != "7000\n" {
			t.Errorf("%s: saved %q after stop, want 7000", tc.name, got)
		}
		if _, err := os.Stat(filepath.Join(r.dir, "run/clock-save.pid")); !os.IsNotExist(err) {
			t.Errorf("%s: the saver's pid file stays: %v", tc.name, err)
		}
	}
}

package buildroot

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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

// TestClockScriptTimesync: in an image without ntpd but with the speaker's
// binary, start leaves `speakerbox timesync` running in the background (boot
// does not wait for it) with the image's configuration and state directory,
// its output going to the log; stop ends it with TERM (it saves the time
// itself), waits for it, and saves the time too. The binary is a fake: the
// real one would set the host's clock.
func TestClockScriptTimesync(t *testing.T) {
	r := newScriptRoot(t)
	copyFile(t, filepath.Join(overlay, "etc/init.d/S20clock"), filepath.Join(r.dir, "etc/init.d/S20clock"))
	os.Remove(filepath.Join(r.dir, "bin/ntpd"))
	args := filepath.Join(r.dir, "fake-args")
	logFile := filepath.Join(r.dir, "timesync.log")
	fake := "#!" + r.busybox + " sh\n" +
		"echo \"$*\" >>" + args + "\n" +
		"trap 'kill $s; echo terminated >>" + args + "; exit 0' TERM\n" +
		"echo 'level=INFO msg=\"setting the clock from NTP\"'\n" +
		"sleep 3600 &\ns=$!\nwait $s\n"
	if err := os.WriteFile(filepath.Join(r.dir, "usr/bin/speakerbox"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	now := filepath.Join(r.dir, "fake-now")
	if err := os.WriteFile(now, []byte("5000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	date := filepath.Join(r.dir, "fake-date")
	if err := os.WriteFile(date, []byte("#!"+r.busybox+" sh\n[ \"$1\" = +%s ] && cat "+now+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.env = append(r.env, "DATE_CMD="+date, "LOG_CMD=tee -a "+logFile)
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return string(b)
	}
	// waitFor polls for what the background processes (not ours to
	// synchronise with) have done; the deadline only bounds a failure.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; args %q, log %q", what, read(args), read(logFile))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	out, code := r.run("etc/init.d/S20clock", "start")
	if code != 0 || !strings.Contains(out, "clock: no ntpd in this image; speakerbox timesync sets the clock in the background") {
		t.Fatalf("start: %d %q", code, out)
	}
	pidFile := filepath.Join(r.dir, "run/clock-sync.pid")
	waitFor("timesync started and logging", func() bool {
		return strings.Contains(read(logFile), "setting the clock from NTP") && read(pidFile) != ""
	})
	want := "timesync --config " + r.dir + "/etc/speakerbox/speakerbox.yaml --state_dir " + r.dir + "/var/lib/speakerbox\n"
	if got := read(args); got != want {
		t.Errorf("speakerbox ran with %q, want %q", got, want)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(read(pidFile)))
	if err != nil || !alive(pid) {
		t.Fatalf("pid file %q: not a running timesync (%v)", read(pidFile), err)
	}

	os.WriteFile(now, []byte("7000\n"), 0o644)
	if out, code := r.run("etc/init.d/S20clock", "stop"); code != 0 {
		t.Fatalf("stop: %d %q", code, out)
	}
	// stop waited for it: it has ended by the time stop returns.
	if !strings.HasSuffix(read(args), "terminated\n") {
		t.Errorf("timesync was not sent TERM before stop returned: %q", read(args))
	}
	waitFor("timesync reaped", func() bool { return !alive(pid) })
	if got := read(filepath.Join(r.dir, "var/lib/speakerbox/clock")); got != "7000\n" {
		t.Errorf("saved %q after stop, want 7000", got)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("the pid file stays: %v", err)
	}
}

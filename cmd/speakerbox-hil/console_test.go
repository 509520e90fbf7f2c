package main

import (
	"bufio"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fakeConsole answers typed commands the way the card's shell does: it
// echoes the line (prompt first), then prints the command's output and
// the marker, which it computes from the typed text like sh would.
func fakeConsole(t *testing.T, sh *shell, r *os.File, outputs map[string][]string) {
	t.Helper()
	go func() {
		sc := bufio.NewScanner(r)
		markRE := regexp.MustCompile(`echo "@@HIL""-(\d+)-RC=\$\?"`)
		for sc.Scan() {
			line := sc.Text()
			now := time.Now()
			sh.add(now, "/ # \x1b[6n"+line) // the echo, with the prompt and a terminal query
			cmd, _, _ := strings.Cut(line, ";")
			for _, o := range outputs[cmd] {
				sh.add(now, o)
			}
			if m := markRE.FindStringSubmatch(line); m != nil {
				rc := "0"
				if cmd == "false" {
					rc = "1"
				}
				sh.add(now, "@@HIL-"+m[1]+"-RC="+rc)
			}
		}
	}()
}

func TestShellRunReadsOutputAndStatus(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	sh := newShell(w)
	fakeConsole(t, sh, r, map[string][]string{"cat /etc/x": {"one", "two"}, "false": {"no"}})
	ctx := context.Background()
	out, rc, err := sh.run(ctx, "cat /etc/x", 5*time.Second)
	if err != nil || rc != 0 || strings.Join(out, ",") != "one,two" {
		t.Fatalf("run: out %q rc %d err %v", out, rc, err)
	}
	out, rc, err = sh.run(ctx, "false", 5*time.Second)
	if err != nil || rc != 1 || strings.Join(out, ",") != "no" {
		t.Fatalf("run false: out %q rc %d err %v", out, rc, err)
	}
}

func TestShellWaitEndsWithTheGuest(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	sh := newShell(w)
	sh.add(time.Now(), "booting")
	sh.end()
	if _, _, err := sh.wait(context.Background(), 0, bannerRE, time.Minute); err == nil || !strings.Contains(err.Error(), "ended") {
		t.Fatalf("wait after the guest ended: %v", err)
	}
	// A timeout, not a hang, when the line never comes.
	sh2 := newShell(w)
	if _, _, err := sh2.wait(context.Background(), 0, bannerRE, 10*time.Millisecond); err == nil {
		t.Fatal("wait without the line returned no error")
	}
}

func TestEvalRespawnOrder(t *testing.T) {
	good := []string{"old=10", "new=20", "speakerbox-init: pid 5 exited with status 0", "relay off (line low)",
		"speakerbox-init: started pid 10", "speakerbox-init: pid 10 ended by signal 9", "relay off (line low)", "speakerbox-init: started pid 20"}
	if _, ok, _, _ := evalRespawn(good); !ok {
		t.Error("kill, relay off, restart in order: failed")
	}
	// The only relay off is from before the kill: not enough.
	noOff := []string{"old=10", "new=20", "relay off (line low)", "speakerbox-init: pid 10 ended by signal 9", "speakerbox-init: started pid 20"}
	if _, ok, _, _ := evalRespawn(noOff); ok {
		t.Error("no relay off after the kill: passed")
	}
	same := []string{"old=10", "new=10"}
	if _, ok, _, _ := evalRespawn(same); ok {
		t.Error("no new process: passed")
	}
}

func TestEvalPowerCut(t *testing.T) {
	base := []string{"/dev/mmcblk0p4 /var/lib/speakerbox ext4 rw,noatime 0 0", "[ 1.0] EXT4-fs (mmcblk0p4): recovery complete"}
	ok := append(append([]string{}, base...), "HIL-CREDS-VERSION 26 26", "list=0")
	if _, pass, d, _ := evalPowerCut(ok, 25); !pass {
		t.Errorf("whole and newer: failed: %s", d)
	}
	older := append(append([]string{}, base...), "HIL-CREDS-VERSION 24 24", "list=0")
	if _, pass, _, _ := evalPowerCut(older, 25); pass {
		t.Error("a finished write lost: passed")
	}
	bad := append(append([]string{}, base...), "[ 1.1] EXT4-fs error (device mmcblk0p4): bad block", "HIL-CREDS-VERSION 25 25", "list=0")
	if _, pass, _, _ := evalPowerCut(bad, 25); pass {
		t.Error("ext4 error: passed")
	}
}

func TestEvalWifi(t *testing.T) {
	good := []string{"wpa-version=0", "wpa_supplicant v2.10", "wpa-daemon=0", "wpa_state=COMPLETED",
		"Dec  4 12:00:01 speakerbox daemon.notice speakerbox-network: network: no Wi-Fi network in the settings (wifi_ssid in speakerbox.txt on the boot partition); Wi-Fi not started",
		"[    3.141592] random: crng init done"}
	ok, d := evalWifi(good, "network: no Wi-Fi network in the settings")
	if !ok || !strings.Contains(d, "ready 3.141592 s") {
		t.Errorf("a good run: %v, %q", ok, d)
	}
	for i, drop := range []string{"wpa-version=0", "wpa_supplicant v2.10", "wpa-daemon=0", "wpa_state=COMPLETED", "Dec  4"} {
		var out []string
		for _, l := range good {
			if !strings.HasPrefix(l, drop) {
				out = append(out, l)
			}
		}
		if ok, _ := evalWifi(out, "network: no Wi-Fi network in the settings"); ok {
			t.Errorf("%d: without %q: passed", i, drop)
		}
	}
	// The loader's error instead of a version: the libraries are missing.
	if ok, _ := evalWifi([]string{"wpa-version=127", "wpa_supplicant: error while loading shared libraries: libnl-3.so.200", "wpa-daemon=127"}, "x"); ok {
		t.Error("a loader error passed")
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/localapi"
)

// A restart asked for once tells systemd RELOADING=1 with the monotonic
// time, triggers the shutdown once, and starts the process again only
// after a clean stop.
func TestRestarterRequest(t *testing.T) {
	var sent []string
	execs := 0
	r := newRestarter(func() error { execs++; return errors.New("exec refused") })
	r.notify = func(s string) error { sent = append(sent, s); return nil }
	r.monotonic = func() (time.Duration, error) { return 1234567 * time.Microsecond, nil }
	if r.restarting() {
		t.Fatal("restarting before any request")
	}
	for range 2 {
		if err := r.request(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(sent, "|") != "RELOADING=1\nMONOTONIC_USEC=1234567" || !r.restarting() {
		t.Errorf("sent %q", sent)
	}
	select {
	case <-r.triggered():
	default:
		t.Fatal("the shutdown was not triggered")
	}
	select {
	case <-r.triggered():
		t.Fatal("triggered twice")
	default:
	}
	a := &app{log: slog.New(slog.DiscardHandler)}
	if got := r.after(a, exitFailure); got != exitFailure || execs != 0 {
		t.Errorf("after a failed stop: code %d, %d execs; want the failure kept and no exec", got, execs)
	}
	if got := r.after(a, exitOK); got != exitFailure || execs != 1 {
		t.Errorf("after a clean stop with a failing exec: code %d, %d execs; want exit 1 after one exec", got, execs)
	}
	var none *restarter
	if none.restarting() || none.triggered() != nil || none.after(a, exitOK) != exitOK {
		t.Error("a nil restarter does something")
	}
	if got := newRestarter(nil).after(a, exitOK); got != exitOK {
		t.Errorf("nothing asked: code %d", got)
	}
}

var monotonicRe = regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=(\d+)$`)

// Issue 14: POST /restart on the real binary under a fake systemd. The
// speaker stops as at SIGTERM (ZeroConf goodbye sent), says RELOADING=1 and
// never STOPPING=1, and the same process (same PID, never exited) starts
// again: READY=1 anew, a new local API whose status has a later start, and
// the setting that needed a restart no longer pending. Discovery on
// loopback only. The local API's socket is handed over: the new start
// serves on the same port (api.address 127.0.0.1:0 would pick another).
func TestRunRestartsInPlace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // against a hang
	defer cancel()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sp := childSpeaker(t, []string{"NOTIFY_SOCKET=" + path},
		"--state_dir", t.TempDir(), "--audio.output", "null", "--zeroconf.interfaces", "lo", "--name", "Restart Test")
	stderr := sp.stderr
	next := func(what string) string {
		t.Helper()
		buf := make([]byte, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // only a bound against a hang
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v\nlog:\n%s", what, err, stderr.String())
		}
		return string(buf[:n])
	}
	until := func(what string, ok func(string) bool) []string {
		t.Helper()
		var got []string
		for len(got) == 0 || !ok(got[len(got)-1]) {
			got = append(got, next(what))
		}
		return got
	}
	api := func(n int) string {
		t.Helper()
		m := apiAddrRe.FindStringSubmatch(stderr.waitForNth(ctx, t, "local API listening", n))
		if m == nil {
			t.Fatalf("no API address in start %d", n)
		}
		return "http://" + m[1]
	}
	getJSON := func(url string, v any) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
		}
	}

	until("READY=1", func(m string) bool { return strings.Contains(m, "READY=1") })
	base := api(1)
	var st1 localapi.Status
	getJSON(base+"/status", &st1)
	a := putSettings(t, base, `{"gpio.active_low":true}`)
	if keysOf(a["pending_restart"]) != "gpio.active_low" {
		t.Fatalf("pending after saving a restart-only key: %v", a)
	}

	resp, err := http.Post(base+"/restart", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /restart: %d %s", resp.StatusCode, body)
	}
	got := until("RELOADING=1", func(m string) bool { return strings.HasPrefix(m, "RELOADING=1") })
	mm := monotonicRe.FindStringSubmatch(got[len(got)-1])
	if mm == nil {
		t.Fatalf("reloading message %q", got[len(got)-1])
	}
	if us, _ := strconv.ParseInt(mm[1], 10, 64); us <= 0 {
		t.Errorf("MONOTONIC_USEC %s", mm[1])
	}
	got = until("READY=1 after the restart", func(m string) bool { return strings.Contains(m, "READY=1") })
	for _, m := range got {
		if strings.Contains(m, "STOPPING=1") {
			t.Errorf("STOPPING=1 during a restart: systemd would stop the service (%q)", got)
		}
	}
	base2 := api(2)
	if base2 != base {
		t.Errorf("the new start listens on %s, not on the socket handed over (%s)", base2, base)
	}
	sp.stillRunning(t, "instead of restarting in place")
	var st2 localapi.Status
	getJSON(base2+"/status", &st2)
	if !st2.Device.Started.After(st1.Device.Started) || st2.Device.Name != "Restart Test" {
		t.Errorf("after the restart: device %+v, before %+v", st2.Device, st1.Device)
	}
	var settings map[string]any
	getJSON(base2+"/settings", &settings)
	if keysOf(settings["pending_restart"]) != "" || settings["values"].(map[string]any)["gpio.active_low"] != true {
		t.Errorf("settings after the restart: %v", settings)
	}
	log := stderr.String()
	pid := fmt.Sprintf("restarting in place\" pid=%d", sp.cmd.Process.Pid)
	if i, j, k := strings.Index(log, "zeroconf stopped; goodbye sent"), strings.Index(log, pid), strings.LastIndex(log, "speaker starting"); i < 0 || j < i || k < j {
		t.Errorf("want goodbye, then %q, then a new start; log:\n%s", pid, log)
	}

	sp.terminate(t, func() { until("STOPPING=1", func(m string) bool { return m == "STOPPING=1" }) })
}

// The socket a restart hands over is taken only where api.address still
// points, and the variable never outlives the start that read it.
func TestInheritedAPIListener(t *testing.T) {
	take := func(address string) (net.Listener, int) {
		t.Helper()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		f, err := l.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		t.Setenv(apiFDEnv, strconv.Itoa(int(f.Fd())))
		got := inheritedAPIListener(strings.ReplaceAll(address, "PORT", strconv.Itoa(l.Addr().(*net.TCPAddr).Port)))
		if _, still := os.LookupEnv(apiFDEnv); still {
			t.Errorf("%s still set after the start took it", apiFDEnv)
		}
		return got, l.Addr().(*net.TCPAddr).Port
	}
	for _, tc := range []struct {
		address string
		want    bool
	}{{"127.0.0.1:PORT", true}, {"127.0.0.1:0", true}, {":PORT", false}, {"127.0.0.1:1", false}, {"127.0.0.2:PORT", false}} {
		ln, port := take(tc.address)
		if (ln != nil) != tc.want {
			t.Errorf("%s: listener %v, want one %v", tc.address, ln, tc.want)
		}
		if ln != nil {
			if ln.Addr().(*net.TCPAddr).Port != port {
				t.Errorf("%s: listens on %v", tc.address, ln.Addr())
			}
			ln.Close()
		}
	}
	t.Setenv(apiFDEnv, "not a number")
	if inheritedAPIListener("127.0.0.1:0") != nil {
		t.Error("a listener from a bad variable")
	}
}

package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/player"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/sdnotify"
	"github.com/speakerbox/speakerbox/internal/statedir"
	"github.com/speakerbox/speakerbox/receiver/hooks"
)

// `speakerbox run` under a fake systemd: READY=1 comes with the status
// once discovery is up, WATCHDOG=1 after a round of pings through the real
// loops (a short WatchdogSec: the first round is due after half of it),
// STOPPING=1 at SIGTERM, and the exit is clean.
func TestRunNotifiesSystemd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A port free now, so that the test knows where the API will be.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	sp := childSpeaker(t, []string{"NOTIFY_SOCKET=" + path, "WATCHDOG_USEC=4000000", "WATCHDOG_PID="},
		"--state_dir", t.TempDir(), "--audio.output", "null", "--zeroconf.interfaces", "lo",
		"--zeroconf.port", port, "--name", "Notify Test")
	stderr := sp.stderr
	next := func(what string) string {
		t.Helper()
		buf := make([]byte, 4096)
		// Only a bound against a hang; nothing is ordered by it.
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v\nlog:\n%s", what, err, stderr.String())
		}
		return string(buf[:n])
	}

	var got []string
	for !strings.Contains(strings.Join(got, "\n"), "READY=1") {
		got = append(got, next("READY=1"))
	}
	all := strings.Join(got, "\n")
	if !strings.Contains(all, "STATUS=Waiting for a phone") {
		t.Errorf("no status with READY: %q", got)
	}
	// READY=1 means discovery is up: the API answers at once.
	if name, err := zeroconfGetInfo("127.0.0.1:" + port); err != nil || name != "Notify Test" {
		t.Errorf("getInfo right after READY=1: %q, %v\nlog:\n%s", name, err, stderr.String())
	}
	if m := next("WATCHDOG=1"); m != "WATCHDOG=1" {
		t.Fatalf("after READY: %q, want WATCHDOG=1\nlog:\n%s", m, stderr.String())
	}
	sp.terminate(t, func() {
		for m := next("STOPPING=1"); m != "STOPPING=1"; m = next("STOPPING=1") {
			if m != "WATCHDOG=1" {
				t.Fatalf("while stopping: %q", m)
			}
		}
	})
	// The log is complete once the process has exited.
	if !strings.Contains(stderr.String(), "systemd watchdog on") || !strings.Contains(stderr.String(), "loops=zeroconf,player,connect") {
		t.Errorf("the watched loops are not logged:\n%s", stderr.String())
	}
}

// The status line follows the session's hook events and never carries a
// full username.
func TestSpeakerStatusFromHooks(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	s := &speakerStatus{set: func(string) {}}
	s.loggingIn("alice.smith")
	s.attach(func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() })
	for _, ev := range []hooks.Event{
		hooks.Session(true, "c1", "alice.smith"),
		hooks.TrackChangedEvent(hooks.Track{ID: "t1", Name: "Song", Artists: []string{"A", "B"}}),
		hooks.Position(hooks.Playing, "t1", 0, time.Minute),
		hooks.Position(hooks.Paused, "t1", time.Second, time.Minute),
		hooks.TrackEvent(hooks.Stopped, "t1"),
		hooks.Session(false, "c1", "alice.smith"),
	} {
		s.Emit(ev)
	}
	want := []string{
		"Logging in to Spotify as al…h",
		"Connected: al…h",
		"Connected: al…h",
		"Playing: Song – A, B (al…h)",
		"Paused: Song – A, B (al…h)",
		"Connected: al…h",
		"Waiting for a phone",
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("status lines\n got %q\nwant %q", lines, want)
	}
	for _, l := range lines {
		if strings.Contains(l, "alice") {
			t.Fatalf("full username in %q", l)
		}
	}
}

// zeroconfGetInfo asks the ZeroConf API at addr for getInfo, once.
func zeroconfGetInfo(addr string) (string, error) {
	c := http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	resp, err := c.Get("http://" + addr + "/?action=getInfo")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var gi getInfoAnswer
	if err := json.NewDecoder(resp.Body).Decode(&gi); err != nil {
		return "", err
	}
	return gi.RemoteName, nil
}

// wedgedLoop never answers: it stands for a loop stuck in a call.
type wedgedLoop struct{ pinged chan struct{} }

func (w wedgedLoop) Ping(ctx context.Context) error {
	select {
	case w.pinged <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// systemd.run with the real discovery server and audio player and a wedged
// third loop, under a test clock: READY=1 once discovery is up, WATCHDOG=1
// after a round where all answered, and none once the third one stops
// answering (its name in the status instead).
func TestSystemdRunStopsPettingForAWedgedLoop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	next := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // a bound, not an order
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}

	a := testApp(t, "--audio.output", "null")
	id, _, err := statedir.DeviceID(a.cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	zc, _ := startLoopbackZeroconf(t, id, a.cfg.StateDir)
	pl, err := player.NewPlayer(player.Config{Sink: audio.NewNullSink()})
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	// The Connect loop answers until the test wedges it.
	var mu sync.Mutex
	wedged := false
	stuck := wedgedLoop{pinged: make(chan struct{}, 1)}
	connectLoop := pingFunc(func(ctx context.Context) error {
		mu.Lock()
		w := wedged
		mu.Unlock()
		if w {
			return stuck.Ping(ctx)
		}
		return nil
	})

	// The real loops' answers are reported, so that the test ends a round
	// at its (fake) timeout only once they are in.
	replies := make(chan string, 16)
	ticks := make(chan time.Time)
	afters := make(chan chan time.Time, 4)
	sd := newSystemd(a, func(k string) string {
		if k == "NOTIFY_SOCKET" {
			return path
		}
		return ""
	})
	sd.watchdog = time.Minute
	sd.tick = func(time.Duration) (<-chan time.Time, func()) { return ticks, func() {} }
	sd.after = func(time.Duration) (<-chan time.Time, func()) {
		c := make(chan time.Time, 1)
		afters <- c
		return c, func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sd.run(ctx, zc, map[string]sdnotify.Pinger{"zeroconf": answered(zc, "zeroconf", replies), "player": answered(pl, "player", replies), "connect": connectLoop})
	}()
	defer func() { cancel(); <-done }()

	var got []string
	for !strings.Contains(strings.Join(got, "\n"), "READY=1") {
		got = append(got, next())
	}
	if !strings.Contains(strings.Join(got, "\n"), "STATUS=Waiting for a phone") {
		t.Errorf("no status by READY=1: %q", got)
	}
	ticks <- time.Now()
	<-afters
	if m := next(); m != "WATCHDOG=1" {
		t.Fatalf("after a round of real loops: %q", m)
	}
	for range 2 { // the first round's answers, in before it ended
		<-replies
	}
	mu.Lock()
	wedged = true
	mu.Unlock()
	ticks <- time.Now()
	timeout := <-afters
	<-stuck.pinged
	for range 2 {
		<-replies
	}
	timeout <- time.Now()
	if m := next(); !strings.HasPrefix(m, "STATUS=Stuck: connect did not answer") {
		t.Fatalf("after the Connect loop wedged: %q, want no WATCHDOG=1 and the loop named", m)
	}
	sd.status.Emit(hooks.Session(true, "c", "someone.else"))
	if m := next(); m != "STATUS=Connected: so…e" {
		t.Fatalf("next notification %q: a WATCHDOG=1 would have come first", m)
	}
}

// answered wraps a Pinger: each answer without error is reported on c.
func answered(p sdnotify.Pinger, name string, c chan<- string) sdnotify.Pinger {
	return pingFunc(func(ctx context.Context) error {
		err := p.Ping(ctx)
		if err == nil {
			c <- name
		}
		return err
	})
}

type pingFunc func(context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }

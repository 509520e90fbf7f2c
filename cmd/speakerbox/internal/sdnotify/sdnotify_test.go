package sdnotify

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSystemd is the receiving end of NOTIFY_SOCKET, as systemd has it.
type fakeSystemd struct {
	t    *testing.T
	conn *net.UnixConn
}

func newFakeSystemd(t *testing.T) *fakeSystemd {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return &fakeSystemd{t: t, conn: conn}
}

// next returns the next datagram. The deadline only keeps a broken test
// from hanging; nothing waits on it for ordering.
func (f *fakeSystemd) next() string {
	f.t.Helper()
	buf := make([]byte, 4096)
	_ = f.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := f.conn.Read(buf)
	if err != nil {
		f.t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

// fakeClock hands the test the channels of the round ticker and of each
// round's timeout, so that the test decides when time passes.
type fakeClock struct {
	tick     chan time.Time
	interval chan time.Duration
	afters   chan chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{tick: make(chan time.Time), interval: make(chan time.Duration, 1), afters: make(chan chan time.Time, 4)}
}

func (c *fakeClock) Tick(d time.Duration) (<-chan time.Time, func()) {
	c.interval <- d
	return c.tick, func() {}
}

func (c *fakeClock) After(d time.Duration) (<-chan time.Time, func()) {
	ch := make(chan time.Time, 1)
	c.afters <- ch
	return ch, func() {}
}

// loop is a pinged loop that can be wedged: then Ping waits until its
// context ends, as a loop stuck in a call would never answer.
type loop struct {
	mu     sync.Mutex
	wedged bool
}

func newLoop() *loop { return &loop{} }

func (l *loop) Ping(ctx context.Context) error {
	l.mu.Lock()
	w := l.wedged
	l.mu.Unlock()
	if !w {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (l *loop) wedge() { l.mu.Lock(); l.wedged = true; l.mu.Unlock() }

func start(t *testing.T, cfg Config) (*Notifier, func()) {
	t.Helper()
	n := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(func() {
		select {
		case <-ctx.Done():
		default:
			stop()
		}
	})
	return n, stop
}

// Through the real protocol implementation and a socket like systemd's:
// READY=1 with the status, status changes, WATCHDOG=1 after a round all
// loops answered, none once a loop is wedged (its name is in the status),
// and STOPPING=1 at the end.
func TestNotifyReadyStatusWatchdog(t *testing.T) {
	sd := newFakeSystemd(t)
	enabled, _, err := FromEnv(func(k string) string {
		if k == "NOTIFY_SOCKET" {
			return "set"
		}
		return ""
	})
	if err != nil || !enabled {
		t.Fatalf("FromEnv = %v, %v", enabled, err)
	}
	clk := newFakeClock()
	player, zeroconf := newLoop(), newLoop()
	n, stop := start(t, Config{
		Watchdog: 60 * time.Second,
		Checks:   []Check{{"player", player}, {"zeroconf", zeroconf}},
		Tick:     clk.Tick, After: clk.After,
	})
	if got := <-clk.interval; got != 30*time.Second {
		t.Errorf("ping interval %v, want half of WatchdogSec", got)
	}
	if n.PingTimeout() >= n.Interval() {
		t.Errorf("ping timeout %v not below the interval %v", n.PingTimeout(), n.Interval())
	}

	n.SetStatus("Waiting for a phone")
	n.Ready()
	got := sd.next()
	// SetStatus and Ready may be taken in one flush or two.
	if got == "STATUS=Waiting for a phone" {
		got = sd.next()
		if got != "READY=1" {
			t.Fatalf("after the status: %q, want READY=1", got)
		}
	} else if got != "READY=1\nSTATUS=Waiting for a phone" {
		t.Fatalf("first notification %q", got)
	}
	n.SetStatus("Playing: Song\nWATCHDOG=1 (al…e)")
	if got := sd.next(); got != "STATUS=Playing: Song WATCHDOG=1 (al…e)" {
		t.Fatalf("status %q: a newline must not start an assignment", got)
	}

	// A round in which both answer pets the watchdog.
	clk.tick <- time.Now()
	<-clk.afters
	if got := sd.next(); got != "WATCHDOG=1" {
		t.Fatalf("after a good round: %q, want WATCHDOG=1", got)
	}

	// The player wedges: the round ends at its timeout without a pet.
	player.wedge()
	clk.tick <- time.Now()
	timeout := <-clk.afters
	timeout <- time.Now()
	got = sd.next()
	if !strings.HasPrefix(got, "STATUS=Stuck: player did not answer") {
		t.Fatalf("after a round with a wedged loop: %q, want a status naming it and no WATCHDOG=1", got)
	}
	if strings.Contains(got, "zeroconf") {
		t.Errorf("status blames a loop that answered: %q", got)
	}
	// No more pets: the next datagram is the next status (one socket,
	// one sender: a WATCHDOG=1 sent in between would come first).
	n.SetStatus("still here")
	if got := sd.next(); got != "STATUS=still here" {
		t.Fatalf("after the wedge: %q, want no WATCHDOG=1", got)
	}
	stop()
	if got := sd.next(); got != "STOPPING=1" {
		t.Fatalf("at the end: %q", got)
	}
}

// A Ping that fails (the loop has ended) stops the petting like one that
// does not answer.
func TestNotifyPingErrorStopsPetting(t *testing.T) {
	var sent []string
	var mu sync.Mutex
	got := make(chan string, 8)
	clk := newFakeClock()
	_, stop := start(t, Config{
		Send: func(s string) error {
			mu.Lock()
			sent = append(sent, s)
			mu.Unlock()
			got <- s
			return nil
		},
		Watchdog: 10 * time.Second,
		Checks:   []Check{{"connect", pingFunc(func(context.Context) error { return errors.New("device stopped") })}},
		Tick:     clk.Tick, After: clk.After,
	})
	<-clk.interval
	clk.tick <- time.Now()
	<-clk.afters
	if s := <-got; !strings.HasPrefix(s, "STATUS=Stuck: connect") {
		t.Fatalf("got %q", s)
	}
	stop()
	mu.Lock()
	defer mu.Unlock()
	for _, s := range sent {
		if strings.Contains(s, "WATCHDOG=1") {
			t.Fatalf("petted after a failed ping: %q", sent)
		}
	}
}

type pingFunc func(context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }

// Without NOTIFY_SOCKET nothing is sent and nothing fails.
func TestNotifyNoSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	enabled, w, err := FromEnv(func(string) string { return "" })
	if enabled || w != 0 || err != nil {
		t.Fatalf("FromEnv without a socket = %v, %v, %v", enabled, w, err)
	}
	n := New(Config{})
	if err := n.cfg.Send("READY=1"); err != nil {
		t.Fatalf("send without a socket: %v", err)
	}
}

// WATCHDOG_USEC is read for this process only.
func TestFromEnvWatchdog(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "60000000")
	t.Setenv("WATCHDOG_PID", "")
	on := func(k string) string {
		if k == "NOTIFY_SOCKET" {
			return "/run/systemd/notify"
		}
		return ""
	}
	if _, w, err := FromEnv(on); err != nil || w != time.Minute {
		t.Fatalf("FromEnv = %v, %v; want 1m", w, err)
	}
	t.Setenv("WATCHDOG_PID", "1")
	if _, w, err := FromEnv(on); err != nil || w != 0 {
		t.Fatalf("another process's watchdog: %v, %v; want 0", w, err)
	}
	t.Setenv("WATCHDOG_PID", "")
	t.Setenv("WATCHDOG_USEC", "soon")
	if _, _, err := FromEnv(on); err == nil {
		t.Fatal("a bad WATCHDOG_USEC is not an error")
	}
}

func TestCleanStatus(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes
	got := cleanStatus(long)
	if len(got) > maxStatus+len("…") || !strings.HasSuffix(got, "…") || strings.ContainsRune(got, '\uFFFD') {
		t.Fatalf("cut %d bytes: %q", len(got), got)
	}
	if got := cleanStatus("a\tb\x00c\rd"); got != "a b c d" {
		t.Fatalf("control characters: %q", got)
	}
}

// A restart leaves STOPPING=1 out (systemd would stop the service); the
// next notification after the end is the restarted process's.
func TestNoStoppingDuringRestart(t *testing.T) {
	sd := newFakeSystemd(t)
	restarting := false
	n, stop := start(t, Config{Restarting: func() bool { return restarting }})
	n.SetStatus("before")
	if got := sd.next(); got != "STATUS=before" {
		t.Fatalf("%q", got)
	}
	restarting = true // before the end, as the restart sets it before cancelling
	stop()
	n2, stop2 := start(t, Config{})
	n2.Ready()
	if got := sd.next(); got != "READY=1" {
		t.Fatalf("after a restart's end: %q, want the next start's READY=1 and no STOPPING=1", got)
	}
	stop2()
	if got := sd.next(); got != "STOPPING=1" {
		t.Fatalf("at a plain end: %q", got)
	}
}

package timesync

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ntpServer is a test-only NTP responder on 127.0.0.1: it answers every
// query with its own idea of the time (As), as a stratum-2 server would;
// KoD makes it answer the next queries with a kiss-of-death (stratum 0).
type ntpServer struct {
	t    *testing.T
	conn *net.UDPConn
	mu   sync.Mutex
	as   time.Time
	kod  int
	seen int
	wg   sync.WaitGroup
}

func newNTPServer(t *testing.T, as time.Time) *ntpServer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &ntpServer{t: t, conn: c, as: as}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		c.Close()
		s.wg.Wait()
	})
	return s
}

func (s *ntpServer) Addr() string { return s.conn.LocalAddr().String() }

func (s *ntpServer) KoD(n int) {
	s.mu.Lock()
	s.kod = n
	s.mu.Unlock()
}

func (s *ntpServer) Seen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen
}

// ntpStamp is t in NTP's 64-bit format (seconds since 1900, fraction).
func ntpStamp(t time.Time) uint64 {
	const epoch = 2208988800 // 1900 to 1970
	secs := uint64(t.Unix() + epoch)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

func (s *ntpServer) serve() {
	defer s.wg.Done()
	buf := make([]byte, 512)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if n < 48 {
			continue
		}
		s.mu.Lock()
		s.seen++
		stratum := byte(2)
		if s.kod > 0 {
			s.kod--
			stratum = 0
		}
		as := s.as
		s.mu.Unlock()
		out := make([]byte, 48)
		out[0] = 4<<3 | 4 // no leap warning, version 4, mode server
		out[1] = stratum
		out[2] = 6
		out[3] = 0xec                                                        // precision 2^-20
		binary.BigEndian.PutUint32(out[8:], 1<<16/100)                       // root dispersion 10 ms
		copy(out[12:16], "RATE")                                             // the kiss code when stratum is 0
		binary.BigEndian.PutUint64(out[16:], ntpStamp(as.Add(-time.Minute))) // reference
		copy(out[24:32], buf[40:48])                                         // origin: the client's transmit stamp
		binary.BigEndian.PutUint64(out[32:], ntpStamp(as))                   // receive
		binary.BigEndian.PutUint64(out[40:], ntpStamp(as))                   // transmit
		s.conn.WriteToUDP(out, from)
	}
}

// sysClock is the system clock of the test: Set records and moves it; the
// host's clock is never touched.
type sysClock struct {
	mu   sync.Mutex
	now  time.Time
	sets []time.Time
	err  error          // Set fails with it
	setc chan time.Time // when not nil, told of every set
}

func (c *sysClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *sysClock) Set(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.sets = append(c.sets, t)
	c.now = t
	if c.setc != nil {
		c.setc <- t
	}
	return nil
}

func (c *sysClock) Sets() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.sets...)
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waits records every wait; each fires at once unless it is of hold, which
// never fires.
type waits struct {
	mu   sync.Mutex
	got  []time.Duration
	hold time.Duration
}

func (w *waits) After(d time.Duration) <-chan time.Time {
	w.mu.Lock()
	w.got = append(w.got, d)
	w.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d != w.hold {
		ch <- time.Time{}
	}
	return ch
}

func (w *waits) Got() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.got...)
}

var (
	build  = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	actual = time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC) // what the servers say
)

func newSyncer(t *testing.T, clk *sysClock, w *waits, log *logBuf, dir string, servers ...string) *Syncer {
	t.Helper()
	s, err := New(Config{Servers: servers, StateDir: dir, Build: build, Now: clk.Now, Set: clk.Set,
		After: w.After, Jitter: func() float64 { return 0.5 }, Timeout: 10 * time.Second,
		Log: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func savedFloor(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, FloorFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A Pi at 1970 asks a server on loopback: the clock is set to the
// server's time and the time is saved for the next boot.
func TestOnceSetsTheClock(t *testing.T) {
	srv := newNTPServer(t, actual)
	clk := &sysClock{now: time.Unix(5, 0)}
	dir, log, w := t.TempDir(), &logBuf{}, &waits{}
	s := newSyncer(t, clk, w, log, dir, srv.Addr())
	if !s.Floor().Equal(build) {
		t.Fatalf("floor %v, want the build time", s.Floor())
	}
	if err := s.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	sets := clk.Sets()
	if len(sets) != 1 || sets[0].Sub(actual).Abs() > time.Millisecond {
		t.Fatalf("clock set to %v, want %v", sets, actual)
	}
	if got, want := savedFloor(t, dir), "1796349600\n"; got != want {
		t.Errorf("saved floor %q, want %q", got, want)
	}
	if !strings.Contains(log.String(), `msg="`+SetMsg+`" server=`+srv.Addr()+` from=1970-01-01T00:00:05Z now=2026-12-04T02:00:00Z`) {
		t.Errorf("log:\n%s", log.String())
	}
	if len(w.Got()) != 0 {
		t.Errorf("waits %v after a first answer that was good", w.Got())
	}
}

// An answer before the floor (a server that is wrong, or a forged answer)
// is ignored, and the next server's is taken.
func TestAnswerBeforeFloorIgnored(t *testing.T) {
	old := newNTPServer(t, build.Add(-24*time.Hour))
	good := newNTPServer(t, actual)
	clk := &sysClock{now: build}
	dir, log, w := t.TempDir(), &logBuf{}, &waits{}
	s := newSyncer(t, clk, w, log, dir, old.Addr(), good.Addr())
	if err := s.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sets := clk.Sets(); len(sets) != 1 || sets[0].Sub(actual).Abs() > time.Millisecond {
		t.Fatalf("clock set to %v, want only %v", sets, actual)
	}
	if !strings.Contains(log.String(), IgnoredMsg) || old.Seen() != 1 {
		t.Errorf("the old answer was not asked for and ignored (%d queries):\n%s", old.Seen(), log.String())
	}
}

// The floor saved at the last shutdown counts as well as the build time;
// a damaged file counts as none.
func TestReadFloor(t *testing.T) {
	dir := t.TempDir()
	if got := ReadFloor(dir, build); !got.Equal(build) {
		t.Errorf("no file: %v", got)
	}
	later := build.Add(48 * time.Hour)
	if err := SaveFloor(dir, later); err != nil {
		t.Fatal(err)
	}
	if got := ReadFloor(dir, build); !got.Equal(later) {
		t.Errorf("saved later: %v, want %v", got, later)
	}
	if got := ReadFloor(dir, later.Add(time.Hour)); !got.Equal(later.Add(time.Hour)) {
		t.Errorf("build after the saved time: %v", got)
	}
	for _, bad := range []string{"", "abc\n", "-5\n", "17x\n"} {
		os.WriteFile(filepath.Join(dir, FloorFile), []byte(bad), 0o644)
		if got := ReadFloor(dir, build); !got.Equal(build) {
			t.Errorf("damaged %q: %v", bad, got)
		}
	}
}

// No sane answer: retried with backoff until there is one.
func TestRetriesWithBackoff(t *testing.T) {
	srv := newNTPServer(t, actual)
	srv.KoD(2)
	clk := &sysClock{now: time.Unix(5, 0)}
	dir, log, w := t.TempDir(), &logBuf{}, &waits{}
	s := newSyncer(t, clk, w, log, dir, srv.Addr())
	if err := s.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Backoff from 2 s doubling, the middle of the upper half (jitter 0.5).
	if got, want := w.Got(), []time.Duration{1500 * time.Millisecond, 3 * time.Second}; !equalDurations(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	if srv.Seen() != 3 || len(clk.Sets()) != 1 {
		t.Errorf("%d queries, %d sets; want 3 and 1", srv.Seen(), len(clk.Sets()))
	}
	if strings.Count(log.String(), RetryMsg) != 2 || !strings.Contains(log.String(), "kiss of death") {
		t.Errorf("log:\n%s", log.String())
	}
}

// A clock behind the floor (1970, not yet set) is never saved as the floor.
func TestFloorNeverLowered(t *testing.T) {
	dir := t.TempDir()
	if err := SaveFloor(dir, actual); err != nil {
		t.Fatal(err)
	}
	clk := &sysClock{now: time.Unix(5, 0)}
	s := newSyncer(t, clk, &waits{}, &logBuf{}, dir, "127.0.0.1:1")
	s.save()
	if got := savedFloor(t, dir); got != "1796349600\n" {
		t.Errorf("saved floor %q after a save at 1970", got)
	}
	clk.Set(actual.Add(2 * time.Hour))
	s.save()
	if got := savedFloor(t, dir); got != "1796356800\n" {
		t.Errorf("saved floor %q, want the later time", got)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A clock that is right is left alone.
func TestSmallOffsetLeftAlone(t *testing.T) {
	srv := newNTPServer(t, actual)
	clk := &sysClock{now: actual.Add(-100 * time.Millisecond)}
	dir, log, w := t.TempDir(), &logBuf{}, &waits{}
	s := newSyncer(t, clk, w, log, dir, srv.Addr())
	if err := s.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(clk.Sets()) != 0 || !strings.Contains(log.String(), InStepMsg) {
		t.Errorf("sets %v; log:\n%s", clk.Sets(), log.String())
	}
}

// Without the right to set the clock Run ends with an error that says so.
func TestRunEndsWhenTheClockCannotBeSet(t *testing.T) {
	srv := newNTPServer(t, actual)
	clk := &sysClock{now: time.Unix(5, 0), err: syscall.EPERM}
	s := newSyncer(t, clk, &waits{}, &logBuf{}, t.TempDir(), srv.Addr())
	err := s.Run(context.Background())
	if !errors.Is(err, syscall.EPERM) || !strings.Contains(err.Error(), "set the system clock") {
		t.Fatalf("Run: %v", err)
	}
}

// Run keeps going after the first sync, and its end saves the time.
func TestRunSavesAtTheEnd(t *testing.T) {
	srv := newNTPServer(t, actual)
	clk := &sysClock{now: time.Unix(5, 0), setc: make(chan time.Time, 4)}
	dir, log := t.TempDir(), &logBuf{}
	w := &waits{hold: time.Hour} // the resync wait never fires
	s := newSyncer(t, clk, w, log, dir, srv.Addr())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-clk.setc                         // synced
	clk.Set(actual.Add(2 * time.Hour)) // time passes
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := savedFloor(t, dir); got != "1796356800\n" {
		t.Errorf("saved floor %q at the end, want the time then", got)
	}
}

// The end of the context ends a query waiting for a server that never
// answers, rather than the query's own timeout.
func TestOnceEndsWithContext(t *testing.T) {
	quiet, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	clk := &sysClock{now: time.Unix(5, 0)}
	s, err := New(Config{Servers: []string{quiet.LocalAddr().String()}, StateDir: t.TempDir(), Now: clk.Now,
		Set: clk.Set, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Once(ctx) }()
	// The query is under way once the server has the datagram.
	buf := make([]byte, 64)
	if _, _, err := quiet.ReadFromUDP(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Once: %v", err)
	}
}

// A floor saved from a wrong clock (a month ahead): two servers that agree
// within 2 s set the clock back and replace the saved time; the log says
// so plainly.
func TestTwoServersOverruleAFutureFloor(t *testing.T) {
	dir := t.TempDir()
	future := actual.Add(30 * 24 * time.Hour)
	if err := SaveFloor(dir, future); err != nil {
		t.Fatal(err)
	}
	a := newNTPServer(t, actual)
	b := newNTPServer(t, actual.Add(1500*time.Millisecond))
	clk := &sysClock{now: future} // where the init script put it
	log, w := &logBuf{}, &waits{}
	s := newSyncer(t, clk, w, log, dir, a.Addr(), b.Addr())
	if err := s.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	sets := clk.Sets()
	if len(sets) != 1 || sets[0].Sub(actual.Add(1500*time.Millisecond)).Abs() > time.Millisecond {
		t.Fatalf("clock set to %v, want once to the second server's %v", sets, actual.Add(1500*time.Millisecond))
	}
	if got, want := savedFloor(t, dir), "1796349601\n"; got != want {
		t.Errorf("saved floor %q, want %q (the real time, not the future one)", got, want)
	}
	if !s.Floor().Before(future) {
		t.Errorf("floor still %v", s.Floor())
	}
	l := log.String()
	if !strings.Contains(l, OverruledMsg) || !strings.Contains(l, "last_known_time=2027-01-03T02:00:00Z") || !strings.Contains(l, "servers="+a.Addr()+","+b.Addr()) {
		t.Errorf("log:\n%s", l)
	}
	if len(w.Got()) != 0 {
		t.Errorf("waits %v", w.Got())
	}
}

// What must not overrule a saved floor: one server alone, two that
// disagree by more than 2 s, two that agree on a time before the build.
func TestFutureFloorKeptWithoutAgreement(t *testing.T) {
	future := actual.Add(30 * 24 * time.Hour)
	for _, c := range []struct {
		name string
		as   []time.Time
	}{
		{"one server", []time.Time{actual}},
		{"the same server twice", nil},
		{"disagreeing by 3 s", []time.Time{actual, actual.Add(3 * time.Second)}},
		{"agreeing before the build", []time.Time{build.Add(-time.Hour), build.Add(-time.Hour)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := SaveFloor(dir, future); err != nil {
				t.Fatal(err)
			}
			var addrs []string
			for _, as := range c.as {
				addrs = append(addrs, newNTPServer(t, as).Addr())
			}
			if c.as == nil {
				one := newNTPServer(t, actual).Addr()
				addrs = []string{one, one}
			}
			clk := &sysClock{now: future}
			log := &logBuf{}
			s := newSyncer(t, clk, &waits{}, log, dir, addrs...)
			if err := s.Sync(context.Background()); err == nil || !strings.Contains(err.Error(), "before the last known time") {
				t.Fatalf("Sync: %v", err)
			}
			if len(clk.Sets()) != 0 || strings.Contains(log.String(), OverruledMsg) {
				t.Errorf("sets %v; log:\n%s", clk.Sets(), log.String())
			}
			if got := savedFloor(t, dir); got != "1798941600\n" {
				t.Errorf("saved floor %q changed", got)
			}
		})
	}
}

package receiver

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// waitState waits, through StatusChanged, for a status in state want.
func (e *devEnv) waitState(want SessionState) Status {
	e.t.Helper()
	return e.waitStatus(want.String(), func(st Status) bool { return st.State == want })
}

// waitStatus waits, through StatusChanged, for a status that satisfies ok.
func (e *devEnv) waitStatus(what string, ok func(Status) bool) Status {
	e.t.Helper()
	for {
		ch := e.dev.StatusChanged()
		st := e.dev.Status()
		if ok(st) {
			return st
		}
		select {
		case <-ch:
		case <-e.ctx.Done():
			e.t.Fatalf("waiting for status %s, last %+v: %v", what, st, e.ctx.Err())
		}
	}
}

// gateDialer holds each login until the test lets it through.
type gateDialer struct {
	*devDialer
	gate chan struct{}
}

func (g *gateDialer) Dial(ctx context.Context, c creds.Credentials) (Conn, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.devDialer.Dial(ctx, c)
}

// gatedAfter holds the first wait (the supervisor's backoff after the
// failed login) until released, then passes on to the clock.
type gatedAfter struct {
	clock   *devClock
	release chan struct{}
	first   chan struct{} // closed at the first call
	calls   atomic.Int32
}

func (g *gatedAfter) After(d time.Duration) <-chan time.Time {
	if g.calls.Add(1) > 1 {
		return g.clock.After(d)
	}
	ch := make(chan time.Time, 1)
	close(g.first)
	go func() {
		<-g.release
		ch <- g.clock.Now()
	}()
	return ch
}

// The status walks through the session's states as they happen, each
// change announced on StatusChanged: waiting without credentials, logging
// in, offline while a failed login backs off, connected, playing, paused,
// waiting again after a logout, offline once Run has returned (when Ping
// and Control say so instead of waiting).
func TestDeviceStatusTransitions(t *testing.T) {
	gd := &gateDialer{gate: make(chan struct{})}
	ga := &gatedAfter{release: make(chan struct{}), first: make(chan struct{})}
	e := newDevEnvPre(t, func(e *devEnv) { gd.devDialer, ga.clock = e.dialer, e.clock }, func(c *DeviceConfig) {
		c.Credentials, c.Dialer, c.After = nil, gd, ga.After
	})
	if st := e.waitState(SessionWaiting); st.User != "" || st.Online || st.Volume != 32768 {
		t.Fatalf("waiting: %+v", st)
	}
	e.must(e.dev.Ping(e.ctx))

	gd.mu.Lock()
	gd.fail = 1
	gd.mu.Unlock()
	e.must(e.dev.Login(e.ctx, creds.Credentials{Username: spotifytest.DefaultUsername, AuthType: creds.AuthStoredSpotify,
		AuthData: []byte(spotifytest.DefaultStoredCredential)}))
	if st := e.waitState(SessionLoggingIn); st.User != spotifytest.DefaultUsername {
		t.Fatalf("logging in: %+v", st)
	}
	gd.gate <- struct{}{} // this login fails
	<-ga.first
	if st := e.waitState(SessionOffline); st.User != spotifytest.DefaultUsername || st.Online {
		t.Fatalf("backing off: %+v", st)
	}
	close(gd.gate)
	close(ga.release)
	if st := e.waitState(SessionConnected); !st.Online || st.User != spotifytest.DefaultUsername || st.TrackURI != "" {
		t.Fatalf("connected: %+v", st)
	}

	// The fake's side of the dealer connection, as the other tests wait for.
	_, err := e.ds.WaitConnection(e.ctx, 1)
	e.must(err)
	if !e.transfer(5, e.clock.Now().UnixMilli()) {
		t.Fatal("transfer refused")
	}
	e.playingTrack(turi(0))
	// Playing and no longer buffering: the player has started the track.
	st := e.waitStatus("playing, started", func(st Status) bool { return st.State == SessionPlaying && !st.Buffering })
	if st.TrackURI != turi(0) || st.ContextURI != albumContext(1).Uri || st.DurationMs != trackMs || st.PositionAt.IsZero() || st.Paused {
		t.Fatalf("playing: %+v", st)
	}
	before := e.dev.StatusChanged()
	e.control(Control{Kind: ControlPause})
	select {
	case <-before:
	default:
		t.Fatal("pause did not announce a new status")
	}
	if st := e.dev.Status(); st.State != SessionPaused || !st.Paused {
		t.Fatalf("after pause: %+v", st)
	}

	e.must(e.dev.Logout(e.ctx))
	if st := e.waitState(SessionWaiting); st.TrackURI != "" || st.User != "" || st.Online {
		t.Fatalf("after logout: %+v", st)
	}
	last := e.dev.StatusChanged()
	e.stop()
	select {
	case <-last:
	default:
		t.Fatal("the end of Run did not announce a new status")
	}
	if st := e.dev.Status(); st.State != SessionOffline || st.Volume != 32768 {
		t.Fatalf("after Run: %+v", st)
	}
	if err := e.dev.Ping(e.ctx); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Ping after Run: %v", err)
	}
	if err := e.dev.Control(e.ctx, Control{Kind: ControlVolume, Volume: 1}); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Control after Run: %v", err)
	}
}

// wedgePlayer blocks in SetVolume(wedgeVolume) until released: the
// device's loop is stuck inside a player call.
type wedgePlayer struct {
	*recPlayer
	entered, release chan struct{}
}

const wedgeVolume = 4321

func (p *wedgePlayer) SetVolume(v uint32) {
	if v == wedgeVolume {
		close(p.entered)
		<-p.release
	}
	p.recPlayer.SetVolume(v)
}

// A wedged loop does not answer Ping (so the watchdog fires), while
// Status still answers from its snapshot; once free, both work again.
func TestDevicePingNeedsTheLoop(t *testing.T) {
	wp := &wedgePlayer{recPlayer: newRecPlayer(), entered: make(chan struct{}), release: make(chan struct{})}
	e := newDevEnv(t, func(c *DeviceConfig) { c.Player = wp })
	e.waitState(SessionConnected)
	e.must(e.dev.Ping(e.ctx))

	done := make(chan error, 1)
	go func() { done <- e.dev.Control(e.ctx, Control{Kind: ControlVolume, Volume: wedgeVolume}) }()
	<-wp.entered
	// The loop is provably stuck (it is inside SetVolume until we
	// release it): the deadline only bounds how long Ping tries.
	ctx, cancel := context.WithTimeout(e.ctx, 50*time.Millisecond)
	err := e.dev.Ping(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping of a wedged loop: %v", err)
	}
	if st := e.dev.Status(); st.State != SessionConnected {
		t.Fatalf("status while wedged: %+v", st)
	}
	close(wp.release)
	e.must(<-done)
	e.must(e.dev.Ping(e.ctx))
	if st := e.dev.Status(); st.Volume != wedgeVolume {
		t.Fatalf("volume after the wedge: %+v", st)
	}
}

// Before Run nothing answers: Ping and Control wait for their context.
// The status is offline with the volume the device starts with.
func TestDeviceBeforeRun(t *testing.T) {
	dev, err := NewDevice(DeviceConfig{HTTP: http.DefaultClient, Dialer: newDevDialer(), Player: newRecPlayer(),
		StateDir: t.TempDir(), DeviceID: devID, InitialVolume: 777})
	if err != nil {
		t.Fatal(err)
	}
	if st := dev.Status(); st != (Status{State: SessionOffline, Volume: 777}) {
		t.Fatalf("status before Run: %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := dev.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ping before Run: %v", err)
	}
	if err := dev.Control(ctx, Control{Kind: ControlPause}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Control before Run: %v", err)
	}
	if err := dev.Control(ctx, Control{Kind: ControlVolume, Volume: 1 << 20}); !errors.Is(err, ErrInvalidControl) {
		t.Fatalf("bad volume before Run: %v", err)
	}
}

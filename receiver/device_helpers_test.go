package receiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver/apconn"
	"github.com/speakerbox/speakerbox/receiver/connect"
	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

const (
	devID   = "0123456789abcdef0123456789abcdef01234567"
	phoneID = "phone000000000000000000000000000000000001"
	trackMs = 200000
)

func id22(n int) string { return fmt.Sprintf("%022d", n) }
func turi(n int) string { return "spotify:track:" + id22(n) }

// albumContext is an album of n tracks on one page.
func albumContext(n int) *connectpb.Context {
	var ts []*connectpb.ContextTrack
	for i := range n {
		ts = append(ts, &connectpb.ContextTrack{Uri: turi(i), Uid: fmt.Sprintf("u%d", i)})
	}
	return &connectpb.Context{
		Uri:   "spotify:album:" + id22(9999),
		Url:   "context://spotify:album:" + id22(9999),
		Pages: []*connectpb.ContextPage{{Tracks: ts}},
	}
}

// devLogBuf is a log sink the test reads after the device is done.
type devLogBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *devLogBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *devLogBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// recPlayer records the calls the device makes and, when a track is
// loaded, reports it started (as a real player does once it has audio).
type recPlayer struct {
	mu      sync.Mutex
	lastID  string // playback id of the last load
	calls   []string
	changed chan struct{}
	events  chan connect.Event
}

func newRecPlayer() *recPlayer {
	return &recPlayer{changed: make(chan struct{}), events: make(chan connect.Event, 64)}
}

func (p *recPlayer) record(s string) {
	p.mu.Lock()
	p.calls = append(p.calls, s)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

func (p *recPlayer) Load(id, uri string, pos int64, paused bool) {
	p.mu.Lock()
	p.lastID = id
	p.mu.Unlock()
	p.record(fmt.Sprintf("load %s %d %v", uri, pos, paused))
	p.events <- connect.TrackStarted{PlaybackID: id, PositionMs: pos, DurationMs: trackMs}
}
func (p *recPlayer) Pause()                       { p.record("pause") }
func (p *recPlayer) Resume()                      { p.record("resume") }
func (p *recPlayer) SeekTo(pos int64)             { p.record(fmt.Sprintf("seek %d", pos)) }
func (p *recPlayer) Stop()                        { p.record("stop") }
func (p *recPlayer) SetVolume(v uint32)           { p.record(fmt.Sprintf("volume %d", v)) }
func (p *recPlayer) Prefetch(uri string)          { p.record("prefetch " + uri) }
func (p *recPlayer) Events() <-chan connect.Event { return p.events }

// LastID is the playback id of the last load.
func (p *recPlayer) LastID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastID
}

func (p *recPlayer) Calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

// waitCall waits for a call from index from on equal to want and returns
// the index after it.
func (p *recPlayer) waitCall(ctx context.Context, from int, want string) (int, error) {
	return p.waitCallFunc(ctx, from, want, func(c string) bool { return c == want })
}

// waitLoad waits for a load of uri at a position below maxPos.
func (p *recPlayer) waitLoad(ctx context.Context, from int, uri string, maxPos int64) (int, error) {
	return p.waitCallFunc(ctx, from, "load "+uri, func(c string) bool {
		var u string
		var pos int64
		var paused bool
		if _, err := fmt.Sscanf(c, "load %s %d %v", &u, &pos, &paused); err != nil {
			return false
		}
		return u == uri && pos >= 0 && pos < maxPos && !paused
	})
}

func (p *recPlayer) waitCallFunc(ctx context.Context, from int, want string, match func(string) bool) (int, error) {
	for {
		p.mu.Lock()
		for i := from; i < len(p.calls); i++ {
			if match(p.calls[i]) {
				p.mu.Unlock()
				return i + 1, nil
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for player call %q (calls %q): %w", want, p.Calls()[from:], ctx.Err())
		}
	}
}

type recHooks struct {
	mu      sync.Mutex
	events  []hooks.Event
	changed chan struct{} // closed and replaced on every event
}

func (h *recHooks) Emit(ev hooks.Event) {
	h.mu.Lock()
	h.events = append(h.events, ev)
	if h.changed != nil {
		close(h.changed)
	}
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

// wait waits for a hook event named name and returns it.
func (h *recHooks) wait(ctx context.Context, name string) (hooks.Event, error) {
	for {
		h.mu.Lock()
		for _, e := range h.events {
			if e.Name == name {
				h.mu.Unlock()
				return e, nil
			}
		}
		if h.changed == nil {
			h.changed = make(chan struct{})
		}
		ch := h.changed
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return hooks.Event{}, fmt.Errorf("waiting for hook %q (saw %v): %w", name, h.Names(), ctx.Err())
		}
	}
}

func (h *recHooks) Names() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.events {
		out = append(out, e.Name)
	}
	return out
}

type recAmp struct {
	mu   sync.Mutex
	idle int
}

func (a *recAmp) Idle() {
	a.mu.Lock()
	a.idle++
	a.mu.Unlock()
}

func (a *recAmp) Idles() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.idle
}

// devConn is a logged-in access point connection.
type devConn struct {
	// The Connect device needs only the login and the lost signal; track
	// loading (keys, country) is not its job, so those methods stay nil.
	apconn.Conn
	done      chan struct{}
	closeOnce sync.Once
	product   *apconn.Product // nil: Product fails
}

func (c *devConn) Username() string { return spotifytest.DefaultUsername }
func (c *devConn) Reusable() creds.Credentials {
	return creds.Credentials{Username: spotifytest.DefaultUsername, AuthType: creds.AuthStoredSpotify,
		AuthData: []byte(spotifytest.DefaultStoredCredential)}
}
func (c *devConn) Done() <-chan struct{} { return c.done }
func (c *devConn) Product(ctx context.Context) (apconn.Product, error) {
	if c.product == nil {
		return apconn.Product{}, errors.New("no product info from this fake")
	}
	return *c.product, nil
}
func (c *devConn) Close() { c.lose() }
func (c *devConn) lose()  { c.closeOnce.Do(func() { close(c.done) }) }

// devDialer logs in at once, unless told to fail the next attempts.
type devDialer struct {
	mu      sync.Mutex
	product *apconn.Product // what the access point says of the account
	fail    int             // attempts to fail with a network error
	reject  bool            // refuse every attempt as bad credentials
	dials   int             // attempts so far
	conns   []*devConn
	used    []creds.Credentials
	changed chan struct{}
}

func newDevDialer() *devDialer { return &devDialer{changed: make(chan struct{})} }

func (d *devDialer) Dial(ctx context.Context, c creds.Credentials) (Conn, error) {
	d.mu.Lock()
	defer func() {
		close(d.changed)
		d.changed = make(chan struct{})
		d.mu.Unlock()
	}()
	d.dials++
	d.used = append(d.used, c)
	if d.reject {
		return nil, &RejectedError{Reason: "BadCredentials"}
	}
	if d.fail > 0 {
		d.fail--
		return nil, errors.New("dial ap.test:4070: connection refused")
	}
	conn := &devConn{done: make(chan struct{}), product: d.product}
	d.conns = append(d.conns, conn)
	return conn, nil
}

func (d *devDialer) state() (dials int, conns []*devConn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dials, append([]*devConn(nil), d.conns...)
}

// devClock is the time of the device: After advances it by the wait
// and fires at once, so backoffs of any length cost no real time.
type devClock struct {
	mu     sync.Mutex
	offset time.Duration
	waits  []time.Duration
}

func (c *devClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *devClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.offset += d
	c.waits = append(c.waits, d)
	now := time.Now().Add(c.offset)
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- now
	return ch
}

func (c *devClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func (c *devClock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// devEnv is one device against one fake Spotify.
type devEnv struct {
	t      testing.TB
	ctx    context.Context
	f      *spotifytest.Fake
	sp     *spotifytest.SpclientServer
	ds     *spotifytest.DealerServer
	player *recPlayer
	dialer *devDialer
	hooks  *recHooks
	amp    *recAmp
	clock  *devClock
	dev    *Device
	dir    string
	logs   *devLogBuf

	loggedOut chan string
	cancel    context.CancelFunc
	done      chan error
	putSeen   int // PUTs already looked at by waitPut
	keyN      int
}

type devEnvOpt func(*DeviceConfig)

func newDevEnv(t testing.TB, opts ...devEnvOpt) *devEnv {
	t.Helper()
	return newDevEnvPre(t, nil, opts...)
}

// newDevEnvPre runs pre on the fake before the device starts.
func newDevEnvPre(t testing.TB, pre func(*devEnv), opts ...devEnvOpt) *devEnv {
	t.Helper()
	guard := 60 * time.Second // against a hang; nothing waits for it to pass
	if _, long := t.(*testing.B); long {
		guard = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	t.Cleanup(cancel)
	e := &devEnv{t: t, ctx: ctx, f: spotifytest.New(t), sp: spotifytest.NewSpclientServer(),
		ds: spotifytest.NewDealerServer(), player: newRecPlayer(), dialer: newDevDialer(),
		hooks: &recHooks{}, amp: &recAmp{}, clock: &devClock{}, dir: t.TempDir(), logs: &devLogBuf{},
		loggedOut: make(chan string, 4)}
	e.sp.SetAuthorize(e.f.Login5().Valid)
	e.f.Handle("spclient.test", e.sp)
	e.f.Handle("dealer.test", e.ds)
	t.Cleanup(e.ds.Close)
	if pre != nil {
		pre(e)
	}
	e.start(opts...)
	return e
}

func (e *devEnv) config(opts ...devEnvOpt) DeviceConfig {
	stored := creds.Credentials{Username: spotifytest.DefaultUsername, AuthType: creds.AuthStoredSpotify,
		AuthData: []byte(spotifytest.DefaultStoredCredential)}
	cfg := DeviceConfig{
		HTTP: e.f.Client(), Dialer: e.dialer, Credentials: &stored, Player: e.player, Hooks: e.hooks, Amp: e.amp,
		StateDir: e.dir, DeviceID: devID, Name: "Kitchen", SoftwareVersion: "speakerbox test",
		InitialVolume: 32768, VolumeSteps: 64,
		Log:       slog.New(slog.NewTextHandler(io.MultiWriter(e.logs), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:       e.clock.Now,
		After:     e.clock.After,
		LoggedOut: func(u string) { e.loggedOut <- u },
		Seed:      1,
	}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

func (e *devEnv) start(opts ...devEnvOpt) {
	e.t.Helper()
	dev, err := NewDevice(e.config(opts...))
	if err != nil {
		e.t.Fatal(err)
	}
	e.dev = dev
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- dev.Run(ctx) }()
	e.t.Cleanup(func() { e.stop() })
}

// stop ends Run and waits for it.
func (e *devEnv) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Run: %v", err)
		}
	case <-time.After(20 * time.Second): // a guard against a hang, not synchronisation
		e.t.Errorf("Run did not return within 20 s of its context's end")
	}
	if e.t.Failed() {
		if out := e.logs.String(); out != "" {
			e.t.Logf("device log:\n%s", out)
		}
	}
}

func (e *devEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// waitPut waits for the first PUT not looked at yet that satisfies ok.
func (e *devEnv) waitPut(what string, ok func(spotifytest.ConnectStatePut) bool) spotifytest.ConnectStatePut {
	e.t.Helper()
	for {
		p, err := e.sp.WaitConnectStatePut(e.ctx, e.putSeen+1)
		if err != nil {
			e.t.Fatalf("waiting for a PUT with %s: %v", what, err)
		}
		e.putSeen++
		if ok(p) {
			return p
		}
	}
}

// command sends a player command and returns the reply.
func (e *devEnv) command(cmd map[string]any) bool {
	e.t.Helper()
	e.keyN++
	key := fmt.Sprintf("key-%d", e.keyN)
	payload, err := spotifytest.DealerCommandPayload(uint32(1000+e.keyN), phoneID, cmd)
	e.must(err)
	e.must(e.ds.SendRequest(e.ctx, spotifytest.DealerRequest{Key: key, Payload: payload, Gzip: e.keyN%2 == 0}))
	ok, err := e.ds.WaitReply(e.ctx, key)
	e.must(err)
	return ok
}

func (e *devEnv) message(uri string, m proto.Message) {
	e.t.Helper()
	var b []byte
	if m != nil {
		var err error
		b, err = proto.Marshal(m)
		e.must(err)
	}
	e.must(e.ds.SendMessage(e.ctx, spotifytest.DealerMessage{URI: uri, Payload: b}))
}

// transfer hands the device an album of n tracks playing track 0 at
// position 0, with the playback timestamp ts (ms).
func (e *devEnv) transfer(n int, ts int64) bool {
	e.t.Helper()
	st := &connectpb.TransferState{
		Options: &connectpb.ContextPlayerOptions{},
		Playback: &connectpb.Playback{Timestamp: ts, PositionAsOfTimestamp: 0, IsPaused: false,
			CurrentTrack: &connectpb.ContextTrack{Uri: turi(0), Uid: "u0"}},
		CurrentSession: &connectpb.Session{Context: albumContext(n),
			PlayOrigin: &connectpb.PlayOrigin{FeatureIdentifier: "album"}, OriginalSessionId: proto.String("session-1")},
	}
	b, err := proto.Marshal(st)
	e.must(err)
	return e.command(map[string]any{"endpoint": "transfer", "data": b})
}

// playingTrack waits for a PUT showing the device active on track uri,
// not paused and not buffering.
func (e *devEnv) playingTrack(uri string) spotifytest.ConnectStatePut {
	e.t.Helper()
	return e.waitPut("playing "+uri, func(p spotifytest.ConnectStatePut) bool {
		ps := p.Request.GetDevice().GetPlayerState()
		return p.Request.GetIsActive() && ps.GetTrack().GetUri() == uri && !ps.GetIsPaused() && !ps.GetIsBuffering()
	})
}

// readVolumeFile returns the remembered volume.
func readVolumeFile(t testing.TB, dir string) string {
	t.Helper()
	b, err := os.ReadFile(dir + "/" + volumeFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

package trackplayer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/audiotest"
	"github.com/speakerbox/speakerbox/audio/decode/decodetest"
	"github.com/speakerbox/speakerbox/audio/gain"
	"github.com/speakerbox/speakerbox/audio/player"
	"github.com/speakerbox/speakerbox/receiver/apconn"
	"github.com/speakerbox/speakerbox/receiver/connect"
	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/receiver/spclient"
	"github.com/speakerbox/speakerbox/receiver/trackload"
)

const rate = 44100

func uri(n int) string { return fmt.Sprintf("spotify:track:%022d", n) }

// song is one test file and what our decoder makes of it (the reference:
// the player is an identity from decoder to sink here).
type song struct {
	uri   string
	ogg   []byte
	pcm   []float32 // interleaved stereo
	durMs int64
}

// songs caches the reference decodes across the tests of a run (each
// costs a second under the race detector).
var songs struct {
	sync.Mutex
	m map[int]song
}

func newSong(t testing.TB, n, variant int) song {
	t.Helper()
	songs.Lock()
	defer songs.Unlock()
	if s, ok := songs.m[variant]; ok {
		s.uri = uri(n)
		return s
	}
	s := decodeSong(t, variant)
	if songs.m == nil {
		songs.m = map[int]song{}
	}
	songs.m[variant] = s
	s.uri = uri(n)
	return s
}

func decodeSong(t testing.TB, variant int) song {
	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: rate, Channels: 2, Kbps: 96, Variant: variant}))
	pcm := decodetest.All(t, b)
	return song{ogg: b, pcm: pcm, durMs: int64(len(pcm)/2) * 1000 / rate}
}

// from is the reference from ms on.
func (s song) from(ms int64) []float32 { return s.pcm[2*(ms*rate/1000):] }

// catalogue is what the fake resolvers serve: files by URI, errors by
// URI, and resolves held until the test lets them go. It counts the
// streams it hands out and the ones closed.
type catalogue struct {
	mu       sync.Mutex
	files    map[string][]byte
	errs     map[string]error
	hold     map[string]chan struct{}
	calls    []resolveCall
	open     map[string]int // streams handed out and not closed, by URI
	sessions int
	refuse   error // NewResolver fails with it
	called   chan resolveCall
}

type resolveCall struct {
	uri      string
	prefetch bool
	session  int
}

func newCatalogue() *catalogue {
	return &catalogue{files: map[string][]byte{}, errs: map[string]error{}, hold: map[string]chan struct{}{},
		open: map[string]int{}, called: make(chan resolveCall, 256)}
}

func (c *catalogue) add(s song) {
	c.mu.Lock()
	c.files[s.uri] = s.ogg
	c.mu.Unlock()
}

// newResolver is Config.NewResolver: each session gets its own resolver.
func (c *catalogue) newResolver(sp *spclient.Client, conn apconn.Conn) (Resolver, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sessions++
	if c.refuse != nil {
		return nil, c.refuse
	}
	return &sessResolver{c: c, session: c.sessions}, nil
}

func (c *catalogue) Calls() []resolveCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]resolveCall(nil), c.calls...)
}

func (c *catalogue) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.open {
		n += k
	}
	return n
}

type sessResolver struct {
	c       *catalogue
	session int
}

type closer struct {
	once sync.Once
	c    *catalogue
	uri  string
}

func (x *closer) Close() error {
	x.once.Do(func() {
		x.c.mu.Lock()
		x.c.open[x.uri]--
		x.c.mu.Unlock()
	})
	return nil
}

func (r *sessResolver) Load(ctx context.Context, uri string, prefetch bool) (*trackload.Loaded, error) {
	c := r.c
	c.mu.Lock()
	c.calls = append(c.calls, resolveCall{uri, prefetch, r.session})
	hold := c.hold[uri]
	c.mu.Unlock()
	select {
	case c.called <- resolveCall{uri, prefetch, r.session}:
	default: // nobody looks (benchmarks)
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.errs[uri]; err != nil {
		return nil, err
	}
	b, ok := c.files[uri]
	if !ok {
		return nil, &trackload.UnavailableError{URI: uri, Reason: "not found"}
	}
	c.open[uri]++
	return &trackload.Loaded{
		Meta: trackload.Meta{Kind: trackload.KindTrack, URI: uri, Name: "Song " + base62(uri)[18:],
			Artists: []string{"Artist"}, Album: "Album", Covers: []string{"https://i.test/cover"}, Number: 1},
		Track:  player.Track{ID: "loader-id", Source: bytes.NewReader(b), Size: int64(len(b))},
		Closer: &closer{c: c, uri: uri},
	}, nil
}

// capSink captures float frames. With tokens set, every Write takes one
// (the test paces the output); otherwise it has no clock.
type capSink struct {
	mu     sync.Mutex
	data   []byte
	opens  int
	tokens chan struct{}
	done   chan struct{} // closed at the end: Write stops waiting
}

func (s *capSink) Open(want audio.Format) (audio.Format, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opens++
	want.Sample = audio.FloatLE
	return want, nil
}

func (s *capSink) Write(p []byte) (int, error) {
	if s.tokens != nil {
		select {
		case <-s.tokens:
		case <-s.done:
		}
	}
	s.mu.Lock()
	s.data = append(s.data, p...)
	s.mu.Unlock()
	return len(p), nil
}

func (s *capSink) Pause() error         { return nil }
func (s *capSink) Resume() error        { return nil }
func (s *capSink) Drain() error         { return nil }
func (s *capSink) Delay() time.Duration { return 0 }
func (s *capSink) Close() error         { return nil }

func (s *capSink) samples() []float32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := make([]float32, len(s.data)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(s.data[4*i:]))
	}
	return f
}

// recHooks records hook events as "name:TRACK_ID".
type recHooks struct {
	mu  sync.Mutex
	evs []string
}

func (h *recHooks) Emit(ev hooks.Event) {
	h.mu.Lock()
	h.evs = append(h.evs, ev.Name+":"+ev.Vars["TRACK_ID"])
	h.mu.Unlock()
}

func (h *recHooks) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.evs...)
}

// fakeConn stands for the access point connection: the fake resolvers do
// not use it.
type fakeConn struct{ apconn.Conn }

// rig is one Player with a capture sink and a fake catalogue.
type rig struct {
	t     *testing.T
	p     *Player
	cat   *catalogue
	sink  *capSink
	hooks *recHooks
	notes chan string
	// observed is what the audio player's observer downstream saw:
	// "type:TRACK_ID", and for track-started the name Describe gave.
	obsMu    sync.Mutex
	observed []string
	obsCh    chan string
	timers   chan chan time.Time // the SessionWait timers asked for
	waits    chan time.Duration
	guard    <-chan time.Time
}

type rigOpt func(*rig, *Config)

func paced(r *rig, _ *Config) { r.sink.tokens = make(chan struct{}, 1<<16) }

func newRig(t *testing.T, opts ...rigOpt) *rig {
	t.Helper()
	r := &rig{t: t, cat: newCatalogue(), sink: &capSink{done: make(chan struct{})}, hooks: &recHooks{}, notes: make(chan string, 1024),
		obsCh: make(chan string, 4096), timers: make(chan chan time.Time, 16), waits: make(chan time.Duration, 16),
		guard: time.After(60 * time.Second)} // against a hang; nothing waits for it to pass
	cfg := Config{
		Audio: player.Config{
			Sink:   r.sink,
			Sample: audio.FloatLE,
			Volume: gain.Volume{Curve: gain.CurveFixed},
		},
		NewResolver: r.cat.newResolver,
		Hooks:       r.hooks,
		After: func(d time.Duration) <-chan time.Time {
			ch := make(chan time.Time, 1)
			r.waits <- d
			r.timers <- ch
			return ch
		},
		testNote: func(s string) { r.notes <- s },
	}
	if testing.Verbose() {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for _, o := range opts {
		o(r, &cfg)
	}
	var p *Player
	down := cfg.Audio.Observe
	cfg.Audio.Observe = func(ev player.Event) {
		if down != nil {
			down(ev)
		}
		s := ev.Type.String() + ":" + ev.TrackID
		if ev.Type == player.TrackStarted {
			if d, ok := p.Describe(ev.TrackID); ok {
				s += ":" + d.Name
			}
		}
		if ev.Type != player.Position {
			r.obsMu.Lock()
			r.observed = append(r.observed, s)
			r.obsMu.Unlock()
			r.obsCh <- s
		}
	}
	var err error
	p, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.p = p
	t.Cleanup(func() {
		close(r.sink.done)
		p.Close()
		if n := r.cat.Open(); n != 0 {
			t.Errorf("%d streams still open after Close", n)
		}
	})
	return r
}

func (r *rig) up() { r.p.UseSession(&spclient.Client{}, fakeConn{}) }

func (r *rig) add(songs ...song) {
	for _, s := range songs {
		r.cat.add(s)
	}
}

// waitNote waits for the player's step s.
func (r *rig) waitNote(s string) {
	r.t.Helper()
	for {
		select {
		case n := <-r.notes:
			if n == s {
				return
			}
		case <-r.guard:
			r.t.Fatalf("no step %q", s)
		}
	}
}

// waitObserved waits until the downstream observer saw s.
func (r *rig) waitObserved(s string) {
	r.t.Helper()
	for {
		select {
		case got := <-r.obsCh:
			if got == s {
				return
			}
		case <-r.guard:
			r.t.Fatalf("the observer never saw %q; saw %q", s, r.observedAll())
		}
	}
}

func (r *rig) observedAll() []string {
	r.obsMu.Lock()
	defer r.obsMu.Unlock()
	return append([]string(nil), r.observed...)
}

// event returns the next event for the state machine other than a
// position.
func (r *rig) event() connect.Event {
	r.t.Helper()
	for {
		select {
		case ev := <-r.p.Events():
			if _, ok := ev.(connect.TrackPosition); ok {
				continue
			}
			return ev
		case <-r.guard:
			r.t.Fatal("no event from the player")
			return nil
		}
	}
}

// expect checks the next events (positions aside).
func (r *rig) expect(want ...connect.Event) {
	r.t.Helper()
	for _, w := range want {
		if got := r.event(); got != w {
			r.t.Fatalf("event %#v, want %#v", got, w)
		}
	}
}

// position returns the next position report.
func (r *rig) position() connect.TrackPosition {
	r.t.Helper()
	for {
		select {
		case ev := <-r.p.Events():
			if pos, ok := ev.(connect.TrackPosition); ok {
				return pos
			}
			r.t.Fatalf("event %#v, want a position", ev)
		case <-r.guard:
			r.t.Fatal("no position from the player")
		}
	}
}

// give lets n more writes through a paced sink.
func (r *rig) give(n int) {
	for range n {
		r.sink.tokens <- struct{}{}
	}
}

// feedWhile lets writes through one at a time while more() holds, until
// stop; it checks more before each, so at most one write passes after it
// turns false.
func (r *rig) feedWhile(more func() bool) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for more() {
			select {
			case r.sink.tokens <- struct{}{}:
			case <-quit:
				return
			}
		}
	}()
	return func() { close(quit); <-done }
}

// release lets every write through from now on.
func (r *rig) release() {
	r.t.Helper()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case r.sink.tokens <- struct{}{}:
			case <-stop:
				return
			}
		}
	}()
	r.t.Cleanup(func() { close(stop); <-done })
}

func compare(t *testing.T, got, want []float32, what string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d samples, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: sample %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func cat(parts ...[]float32) []float32 {
	var out []float32
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var errNetwork = errors.New("storage-resolve: 503 Service Unavailable")

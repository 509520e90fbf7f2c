package receiver_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/decode"
	"github.com/speakerbox/speakerbox/audio/gain"
	"github.com/speakerbox/speakerbox/audio/player"
	"github.com/speakerbox/speakerbox/receiver"
	"github.com/speakerbox/speakerbox/receiver/apconn"
	"github.com/speakerbox/speakerbox/receiver/connect"
	"github.com/speakerbox/speakerbox/receiver/spclient"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
	"github.com/speakerbox/speakerbox/receiver/trackload"
	"github.com/speakerbox/speakerbox/receiver/trackplayer"
)

// The streaming benchmarks run the receiver as cmd wires it for `speakerbox
// run` (receiver.Device, trackplayer over the audio player, a
// trackload.Loader per session) against spotifytest.Service, with a
// capture sink in place of ALSA. The sink has no clock, so a track plays
// as fast as it is fetched and decoded; what the sink sees is timed and
// counted instead of stored. cmd/speakerbox's end-to-end test drives the
// same parts through realMainWith and a FIFO; here the pipe and its reader
// goroutine are left out, as they only add noise to a start latency, and
// so are cmd's amplifier gate and hooks (no amplifier, no hook commands).

// streamRig is a running device and what the benchmarks look at.
type streamRig struct {
	tb   testing.TB
	ctx  context.Context
	svc  *spotifytest.Service
	sink *benchSink
	res  *timedResolver

	mu     sync.Mutex
	events []player.Event // the audio player's events, in order
	signal chan struct{}  // a new event arrived (capacity 1)
	// onEvent, if set, sees each event on the player's goroutine first.
	onEvent func(player.Event)
}

func newStreamRig(tb testing.TB, kbps int) *streamRig {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // against a hang
	tb.Cleanup(cancel)
	svc := spotifytest.NewService(tb, spotifytest.APFakeConfig{})
	r := &streamRig{tb: tb, ctx: ctx, svc: svc, sink: &benchSink{}, res: &timedResolver{}, signal: make(chan struct{}, 1)}
	quiet := slog.New(slog.DiscardHandler)
	tp, err := trackplayer.New(trackplayer.Config{
		Audio: player.Config{Sink: r.sink, Sample: audio.FloatLE,
			Volume:  gain.Volume{Curve: gain.CurveFixed},
			Observe: r.observe},
		NewResolver: func(sp *spclient.Client, conn apconn.Conn) (trackplayer.Resolver, error) {
			l, err := trackload.New(trackload.Config{Spclient: sp, Keys: conn, Account: conn,
				CDN: svc.Fake.Client(), Bitrate: kbps, Log: quiet})
			if err != nil {
				return nil, err
			}
			r.res.setLoader(l)
			return r.res, nil
		},
		Log: quiet,
	})
	if err != nil {
		tb.Fatal(err)
	}
	stored := spotifytest.StoredCredentials()
	dev, err := receiver.NewDevice(receiver.DeviceConfig{
		HTTP: svc.Fake.Client(), Dialer: svc.Dialer, Credentials: &stored, Player: tp,
		StateDir: tb.TempDir(), DeviceID: "be9c000000000000000000000000000000000001", Name: "Bench",
		SoftwareVersion: "speakerbox bench", InitialVolume: 65535, Autoplay: connect.AutoplayOff,
		Log: quiet,
	})
	if err != nil {
		tb.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- dev.Run(runCtx) }()
	tb.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			tb.Errorf("device Run: %v", err)
		}
		_ = tp.Close()
	})
	// Registered (the first state PUT) before the app transfers.
	if _, err := svc.Spclient.WaitConnectStatePut(ctx, 1); err != nil {
		tb.Fatalf("the device did not register: %v", err)
	}
	return r
}

func (r *streamRig) observe(e player.Event) {
	r.mu.Lock()
	f := r.onEvent
	r.mu.Unlock()
	if f != nil {
		f(e)
	}
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// mark is the number of audio player events so far.
func (r *streamRig) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// waitEvent waits for an event of type t after the first from events.
func (r *streamRig) waitEvent(from int, t player.EventType) player.Event {
	r.tb.Helper()
	e, _ := r.waitNth(from, t, 1)
	return e
}

// waitNth waits for the nth event of type t after the first from events
// and returns it and its index. A track that does not play fails the
// benchmark.
func (r *streamRig) waitNth(from int, t player.EventType, n int) (player.Event, int) {
	r.tb.Helper()
	seen := 0
	for {
		r.mu.Lock()
		for i := from; i < len(r.events); i++ {
			e := r.events[i]
			if e.Type == player.TrackError || e.Type == player.OutputError {
				r.mu.Unlock()
				r.tb.Fatalf("player: %v", e.Err)
			}
			if e.Type == t {
				if seen++; seen == n {
					r.mu.Unlock()
					return e, i
				}
			}
		}
		from = len(r.events)
		r.mu.Unlock()
		select {
		case <-r.signal:
		case <-r.ctx.Done():
			r.tb.Fatalf("waiting for player event %v (%d of %d seen): %v", t, seen, n, r.ctx.Err())
		}
	}
}

// playThrough waits until the n tracks of a transfer made after event
// from have ended and the player has gone idle. Without a clock in the
// sink a track can end before the next one is loaded, so the player may
// go idle between tracks too: EndOfQueue alone does not mean the end.
func (r *streamRig) playThrough(from, n int) {
	r.tb.Helper()
	_, i := r.waitNth(from, player.TrackEnded, n)
	r.waitEvent(i, player.EndOfQueue)
}

// publish puts n tracks made from ogg on the fake (as 320 and 160 kbps
// files, the same bytes) and returns their URIs.
func (r *streamRig) publish(prefix string, ogg []byte, durMs int32, n int) []string {
	r.tb.Helper()
	uris := make([]string, n)
	for i := range uris {
		uris[i] = spotifytest.MediaURI("track", fmt.Sprintf("%s%d", prefix, i))
		spotifytest.PublishMedia(r.tb, r.svc.Spclient, r.svc.CDN, r.svc.Dialer.APKeyTable, spotifytest.ServiceCDNHosts,
			spotifytest.MediaItem{URI: uris[i], Ogg: ogg, Name: "Bench " + prefix, Artists: []string{"Band"},
				Album: "Album", DurationMs: durMs,
				Formats: []metadatapb.AudioFile_Format{metadatapb.AudioFile_OGG_VORBIS_320, metadatapb.AudioFile_OGG_VORBIS_160}})
	}
	return uris
}

// transfer hands the device the album of uris, playing the first at posMs.
func (r *streamRig) transfer(n int, uris []string, posMs int64) {
	r.tb.Helper()
	ok, err := r.svc.App.Transfer(r.ctx, fmt.Sprintf("spotify:album:%022d", n), uris, 0, posMs, time.Now().UnixMilli())
	if err != nil || !ok {
		r.tb.Fatalf("transfer: ok %v, err %v", ok, err)
	}
}

// benchTrack is a test file and what our decoder makes of it.
type benchTrack struct {
	ogg     []byte
	samples int // interleaved stereo samples
	durMs   int32
}

func newBenchTrack(tb testing.TB, kbps, variant, repeat int) benchTrack {
	tb.Helper()
	ogg := spotifytest.MediaOgg(tb, kbps, variant, repeat)
	n, err := decodeAll(ogg)
	if err != nil {
		tb.Fatal(err)
	}
	return benchTrack{ogg: ogg, samples: n, durMs: int32(int64(n/2) * 1000 / 44100)}
}

// decodeAll decodes ogg from memory and returns the number of samples:
// the reference for the CPU cost of the whole path.
func decodeAll(ogg []byte) (int, error) {
	d, err := decode.Open(bytes.NewReader(ogg), int64(len(ogg)))
	if err != nil {
		return 0, err
	}
	buf := make([]float32, 4096)
	total := 0
	for {
		n, err := d.Read(buf)
		total += n
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// timedResolver is the loader with a record of each Load: when it was
// asked and answered, the Timings it measured, and its stream.
type timedResolver struct {
	mu    sync.Mutex
	l     *trackload.Loader
	loads []loadRecord
	// forget: keep no records (the 100-track heap benchmark).
	forget bool
}

type loadRecord struct {
	URI      string
	Prefetch bool
	Asked    time.Time
	Answered time.Time
	Timings  trackload.Timings
	Loaded   *trackload.Loaded
}

func (t *timedResolver) setLoader(l *trackload.Loader) {
	t.mu.Lock()
	t.l = l
	t.mu.Unlock()
}

func (t *timedResolver) Load(ctx context.Context, uri string, prefetch bool) (*trackload.Loaded, error) {
	t.mu.Lock()
	l := t.l
	t.mu.Unlock()
	asked := time.Now()
	ld, err := l.Load(ctx, uri, prefetch)
	answered := time.Now()
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if t.forget {
		t.mu.Unlock()
		return ld, nil
	}
	t.loads = append(t.loads, loadRecord{URI: uri, Prefetch: prefetch, Asked: asked, Answered: answered,
		Timings: ld.Timings, Loaded: ld})
	t.mu.Unlock()
	return ld, nil
}

// reset forgets the loads so far.
func (t *timedResolver) reset() {
	t.mu.Lock()
	t.loads = nil
	t.mu.Unlock()
}

// records returns the loads so far.
func (t *timedResolver) records() []loadRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]loadRecord(nil), t.loads...)
}

// benchSink is a sink without a clock that notes the time of its first
// write after arm and calls every on each write.
type benchSink struct {
	mu    sync.Mutex
	armed bool
	first time.Time
	every func() // called on each Write, on the player's goroutine
}

func (s *benchSink) arm() {
	s.mu.Lock()
	s.armed, s.first = true, time.Time{}
	s.mu.Unlock()
}

// firstWrite is the time of the first write since arm (zero: none yet).
func (s *benchSink) firstWrite() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first
}

func (s *benchSink) setEvery(f func()) {
	s.mu.Lock()
	s.every = f
	s.mu.Unlock()
}

func (s *benchSink) Open(want audio.Format) (audio.Format, error) { return want, nil }

func (s *benchSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	if s.armed {
		s.armed, s.first = false, time.Now()
	}
	f := s.every
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return len(p), nil
}

func (s *benchSink) Pause() error         { return nil }
func (s *benchSink) Resume() error        { return nil }
func (s *benchSink) Drain() error         { return nil }
func (s *benchSink) Delay() time.Duration { return 0 }
func (s *benchSink) Close() error         { return nil }

// rssBytes is the resident set of this process (/proc/self/statm).
func rssBytes(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Fatalf("read RSS: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		tb.Fatalf("read RSS: /proc/self/statm is %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		tb.Fatalf("read RSS: %v", err)
	}
	return pages * int64(os.Getpagesize())
}

package trackload

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/audio/decrypt"
	"github.com/speakerbox/speakerbox/audio/source"
	"github.com/speakerbox/speakerbox/receiver/spclient"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

const testDeviceID = "0123456789abcdef0123456789abcdef01234567"

// testChunk keeps test files (about 100 KiB) many chunks long, so
// failover happens mid-file.
const testChunk = 4 << 10

var testHosts = []string{"cdn-a.test", "cdn-b.test"}

// clock is an injected wall clock for URL expiry.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// testEnv is the fake of Spotify with a spclient, a CDN on two hosts and a
// fake access point.
type testEnv struct {
	f     *spotifytest.Fake
	sp    *spotifytest.SpclientServer
	cdn   *spotifytest.CDNServer
	ap    *spotifytest.APFake
	sc    *spclient.Client
	clock *clock
}

var testStart = time.Date(2026, 12, 3, 20, 0, 0, 0, time.UTC)

func newTestEnv(tb testing.TB, apcfg spotifytest.APFakeConfig) *testEnv {
	tb.Helper()
	e := &testEnv{f: spotifytest.New(tb), sp: spotifytest.NewSpclientServer(), cdn: spotifytest.NewCDNServer(),
		clock: &clock{now: testStart}}
	e.f.Handle("spclient.test", e.sp)
	for _, h := range testHosts {
		e.f.Handle(h, e.cdn)
	}
	spClock := &clock{now: testStart}
	e.ap = spotifytest.NewAPFake(apcfg)
	tb.Cleanup(e.ap.Close)
	sc, err := spclient.New(spclient.Config{
		HTTPClient: e.f.Client(), Addr: spotifytest.DefaultSpclientAddr, DeviceID: testDeviceID,
		Token: func(context.Context, bool) (string, error) { return "test-token", nil },
		Log:   slog.New(slog.DiscardHandler),
		// Retries of 5xx move a clock of their own instead of sleeping.
		Now: spClock.Now,
		Sleep: func(ctx context.Context, d time.Duration) error {
			spClock.Set(spClock.Now().Add(d))
			return ctx.Err()
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	e.sc = sc
	return e
}

// publish registers it with expiries from the test clock.
func (e *testEnv) publish(tb testing.TB, it spotifytest.MediaItem) spotifytest.MediaPublished {
	tb.Helper()
	if it.Expires == nil {
		it.Expires = func(int) time.Time { return e.clock.Now().Add(time.Hour) }
	}
	return spotifytest.PublishMedia(tb, e.sp, e.cdn, e.ap.APKeyTable, testHosts, it)
}

func (e *testEnv) loader(tb testing.TB, edit func(*Config)) *Loader {
	tb.Helper()
	cfg := Config{
		Spclient: e.sc, Keys: e.ap, Account: e.ap, CDN: e.f.Client(), Bitrate: 160, Now: e.clock.Now,
		Log: slog.New(slog.DiscardHandler),
		Stream: source.Config{
			ChunkSize: testChunk,
			// Backoff does not sleep: the tests count requests, not time.
			Sleep:  func(ctx context.Context, d time.Duration) error { return ctx.Err() },
			Jitter: func() float64 { return 0 },
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	l, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// readPlain reads the whole stream of ld in reads of step bytes, in order,
// and decrypts it with ld's key.
func readPlain(tb testing.TB, ld *Loaded, step int) []byte {
	tb.Helper()
	plain, err := decrypt.NewReaderAt(ld.Track.Source, ld.Track.Key)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]byte, 0, ld.Track.Size)
	buf := make([]byte, step)
	for off := int64(0); off < ld.Track.Size; {
		n, err := plain.ReadAt(buf, off)
		out = append(out, buf[:n]...)
		off += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatalf("read at %d: %v", off, err)
		}
	}
	return out
}

// samePlain fails tb unless got is want, saying where they part.
func samePlain(tb testing.TB, got, want []byte) {
	tb.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	tb.Fatalf("stream differs from the published file at byte %d (got %d bytes, want %d)", i, len(got), len(want))
}

func streamOf(tb testing.TB, ld *Loaded) *source.Stream {
	tb.Helper()
	s, ok := ld.Track.Source.(*source.Stream)
	if !ok {
		tb.Fatalf("Track.Source is %T, want *source.Stream", ld.Track.Source)
	}
	return s
}

package spotifytest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/audio/source"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// These tests drive our fetcher (audio/source) against the CDN fake over
// the fake's TLS: they live on the receiver side so that audio/ imports
// nothing of Spotify.

const (
	cdnA       = "cdn-a.test"
	cdnB       = "cdn-b.test"
	cdnPath    = "/audio/00112233445566778899aabbccddeeff00112233"
	testChunk  = 16 << 10
	testAhead  = 2
	testMaxChk = 5
)

// cdnURLs is a URLSource over fixed lists: first for the first call, fresh
// for every refresh. It counts the calls.
type cdnURLs struct {
	mu       sync.Mutex
	first    []source.URL
	fresh    []source.URL
	calls    []bool
	failNext int
}

func (u *cdnURLs) URLs(_ context.Context, refresh bool) ([]source.URL, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls = append(u.calls, refresh)
	if u.failNext > 0 {
		u.failNext--
		return nil, errors.New("storage-resolve down")
	}
	if refresh && u.fresh != nil {
		return u.fresh, nil
	}
	return u.first, nil
}

func (u *cdnURLs) refreshes() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, r := range u.calls {
		if r {
			n++
		}
	}
	return n
}

type cdnEnv struct {
	f     *spotifytest.Fake
	cdn   *spotifytest.CDNServer
	data  []byte
	urls  *cdnURLs
	sleep *sleeps
}

// sleeps records the backoff waits instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func newCDNEnv(t testing.TB, size int) *cdnEnv {
	t.Helper()
	e := &cdnEnv{f: spotifytest.New(t), cdn: spotifytest.NewCDNServer(), sleep: &sleeps{}}
	e.data = make([]byte, size)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(e.data)
	e.cdn.CDNSetFile(cdnPath, e.data)
	e.f.Handle(cdnA, e.cdn)
	e.f.Handle(cdnB, e.cdn)
	e.urls = &cdnURLs{first: []source.URL{
		{URL: spotifytest.CDNURL(cdnA, cdnPath, "__token__=exp=1")},
		{URL: spotifytest.CDNURL(cdnB, cdnPath, "")},
	}}
	return e
}

func (e *cdnEnv) open(t testing.TB, edit func(*source.Config)) *source.Stream {
	t.Helper()
	cfg := source.Config{
		Client:    e.f.Client(),
		URLs:      e.urls,
		ChunkSize: testChunk,
		ReadAhead: testAhead,
		MaxChunks: testMaxChk,
		Sleep:     e.sleep.Sleep,
		Jitter:    func() float64 { return 0.5 },
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := source.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// readAll reads the stream front to back in 4 KiB reads, as a decoder does.
func readAll(t testing.TB, s *source.Stream) []byte {
	t.Helper()
	out, err := io.ReadAll(io.NewSectionReader(s, 0, s.Size()))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return out
}

func idle(t testing.TB, s *source.Stream) {
	t.Helper()
	if err := s.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCDNFullReadFetchesEveryChunkOnce(t *testing.T) {
	size := 10*testChunk + 1234
	e := newCDNEnv(t, size)
	s := e.open(t, nil)
	if s.Size() != int64(size) {
		t.Fatalf("size %d, want %d", s.Size(), size)
	}
	if got := readAll(t, s); !bytes.Equal(got, e.data) {
		t.Fatal("bytes differ")
	}
	idle(t, s)
	ranges := e.cdn.CDNRanges()
	if len(ranges) != 11 {
		t.Fatalf("%d range requests for 11 chunks: %+v", len(ranges), ranges)
	}
	seen := map[int64]bool{}
	for _, r := range ranges {
		if r.Host != cdnA || r.Status != http.StatusPartialContent || r.First%testChunk != 0 || seen[r.First] {
			t.Fatalf("unexpected request %+v", r)
		}
		seen[r.First] = true
	}
	if _, n := e.cdn.CDNStats(""); n != int64(size) {
		t.Fatalf("%d bytes served for a %d-byte file", n, size)
	}
	st := s.Stats()
	if st.Requests != 11 || st.Bytes != int64(size) || st.MaxChunksHeld > testMaxChk || st.ChunksHeld > testMaxChk {
		t.Fatalf("stats %+v (bound %d chunks)", st, testMaxChk)
	}
	if r := e.cdn.CDNRanges()[0].Range; r != "bytes=0-"+strconv.Itoa(testChunk-1) {
		t.Fatalf("first range %q", r)
	}
}

func TestCDNSeekFetchesTheTargetAndTheReadAhead(t *testing.T) {
	size := 20 * testChunk
	for _, tc := range []struct {
		name string
		off  int64
		want int // range requests: Open's first chunk, the target, the read-ahead
	}{
		{"middle", 10*testChunk + 5, 1 + 1 + testAhead},
		{"near end", int64(size) - 100, 1 + 1},
		{"one before end", int64(size) - testChunk - 1, 1 + 1 + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCDNEnv(t, size)
			s := e.open(t, nil)
			buf := make([]byte, 64)
			n, err := s.ReadAt(buf, tc.off)
			if err != nil && !(err == io.EOF && tc.off+int64(n) == int64(size)) {
				t.Fatal(err)
			}
			if !bytes.Equal(buf[:n], e.data[tc.off:tc.off+int64(n)]) {
				t.Fatal("bytes differ")
			}
			idle(t, s)
			if got, _ := e.cdn.CDNStats(""); got != tc.want {
				t.Fatalf("%d range requests, want %d: %+v", got, tc.want, e.cdn.CDNRanges())
			}
		})
	}
}

func TestCDNReadAheadStaysAFewChunksAhead(t *testing.T) {
	e := newCDNEnv(t, 30*testChunk)
	s := e.open(t, nil)
	buf := make([]byte, 10)
	if _, err := s.ReadAt(buf, 2*testChunk); err != nil {
		t.Fatal(err)
	}
	idle(t, s)
	got := map[int64]bool{}
	for _, r := range e.cdn.CDNRanges() {
		got[r.First/testChunk] = true
	}
	want := map[int64]bool{0: true, 2: true, 3: true, 4: true}
	if len(got) != len(want) {
		t.Fatalf("chunks fetched %v, want %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("chunks fetched %v, want %v", got, want)
		}
	}
}

func TestCDNDropMidFileResumesOnTheNextHost(t *testing.T) {
	e := newCDNEnv(t, 8*testChunk)
	s := e.open(t, nil)
	// The next answer from cdn-a (the read-ahead of chunk 1) breaks after
	// 5000 bytes.
	e.cdn.CDNDropAfter(cdnA, 5000)
	if got := readAll(t, s); !bytes.Equal(got, e.data) {
		t.Fatal("bytes differ after the failover")
	}
	idle(t, s)
	var onB []spotifytest.CDNRange
	for _, r := range e.cdn.CDNRanges() {
		if r.Host == cdnB {
			onB = append(onB, r)
		}
	}
	if len(onB) == 0 {
		t.Fatalf("nothing fetched from cdn-b: %+v", e.cdn.CDNRanges())
	}
	if onB[0].First != testChunk+5000 || onB[0].Last != 2*testChunk-1 {
		t.Fatalf("resumed with %q, want bytes=%d-%d", onB[0].Range, testChunk+5000, 2*testChunk-1)
	}
	if st := s.Stats(); st.Failovers != 1 {
		t.Fatalf("stats %+v, want one failover", st)
	}
	if len(e.sleep.all()) != 0 {
		t.Fatalf("backed off %v before trying a fresh host", e.sleep.all())
	}
}

func TestCDN503ThenRecoveryBacksOff(t *testing.T) {
	e := newCDNEnv(t, 4*testChunk)
	e.urls.first = e.urls.first[:1] // cdn-a only
	s := e.open(t, nil)
	e.cdn.CDNUnavailable(cdnA, 2)
	if got := readAll(t, s); !bytes.Equal(got, e.data) {
		t.Fatal("bytes differ")
	}
	sl := e.sleep.all()
	// Jitter 0.5: half of 200 ms plus a quarter, then double.
	if len(sl) != 2 || sl[0] != 150*time.Millisecond || sl[1] != 300*time.Millisecond {
		t.Fatalf("backoffs %v, want [150ms 300ms]", sl)
	}
	// Every URL failed each time, so each failure asked for fresh URLs.
	if n := e.urls.refreshes(); n != 2 {
		t.Fatalf("%d refreshes, want 2", n)
	}
}

func TestCDNGivesUpAfterMaxAttempts(t *testing.T) {
	e := newCDNEnv(t, 4*testChunk)
	s := e.open(t, func(c *source.Config) { c.MaxAttempts = 3 })
	e.cdn.CDNUnavailable(cdnA, -1)
	e.cdn.CDNUnavailable(cdnB, -1)
	_, err := s.ReadAt(make([]byte, 10), 2*testChunk)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err %v, want the 503 after giving up", err)
	}
	// A later read tries again (and now succeeds).
	e.cdn.CDNReset()
	buf := make([]byte, 10)
	if _, err := s.ReadAt(buf, 2*testChunk); err != nil || !bytes.Equal(buf, e.data[2*testChunk:2*testChunk+10]) {
		t.Fatalf("read after recovery: %v", err)
	}
}

func TestCDNExpiredURLAsksForFreshURLs(t *testing.T) {
	e := newCDNEnv(t, 4*testChunk)
	e.urls.first = e.urls.first[:1]
	e.urls.fresh = []source.URL{{URL: spotifytest.CDNURL(cdnB, cdnPath, "fresh")}}
	s := e.open(t, nil)
	e.cdn.CDNExpire(cdnA, true)
	if got := readAll(t, s); !bytes.Equal(got, e.data) {
		t.Fatal("bytes differ")
	}
	if n := e.urls.refreshes(); n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	if sl := e.sleep.all(); len(sl) != 0 {
		t.Fatalf("backed off %v after an expiry; a fresh URL is tried at once", sl)
	}
	for _, r := range e.cdn.CDNRanges()[1:] {
		if r.Host == cdnA && r.Status != http.StatusForbidden {
			t.Fatalf("request after the expiry went to cdn-a: %+v", r)
		}
	}
}

func TestCDNURLPastItsExpiryIsRefreshedBeforeUse(t *testing.T) {
	e := newCDNEnv(t, 4*testChunk)
	now := time.Unix(1_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e.urls.first = []source.URL{{URL: spotifytest.CDNURL(cdnA, cdnPath, ""), Expires: now.Add(10 * time.Minute)}}
	e.urls.fresh = []source.URL{{URL: spotifytest.CDNURL(cdnB, cdnPath, ""), Expires: now.Add(time.Hour)}}
	s := e.open(t, func(c *source.Config) { c.Now = clock })
	mu.Lock()
	now = now.Add(10*time.Minute - 10*time.Second) // inside the 30 s margin
	mu.Unlock()
	buf := make([]byte, 10)
	if _, err := s.ReadAt(buf, 3*testChunk); err != nil {
		t.Fatal(err)
	}
	idle(t, s)
	rs := e.cdn.CDNRanges()
	if n := e.urls.refreshes(); n != 1 || rs[len(rs)-1].Host != cdnB {
		t.Fatalf("%d refreshes, last request %+v; want the expiring URL replaced before use", n, rs[len(rs)-1])
	}
	for _, r := range rs[1:] {
		if r.Host == cdnA {
			t.Fatalf("expiring URL used: %+v", r)
		}
	}
}

func TestCDNShortBodyAndWrongContentRangeAreDetected(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(*spotifytest.CDNServer)
	}{
		{"short body", func(c *spotifytest.CDNServer) { c.CDNShortBody(cdnA, 1) }},
		{"wrong Content-Range", func(c *spotifytest.CDNServer) { c.CDNWrongRange(cdnA, 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCDNEnv(t, 6*testChunk)
			s := e.open(t, nil)
			tc.fault(e.cdn)
			if got := readAll(t, s); !bytes.Equal(got, e.data) {
				t.Fatal("bytes differ: the fault shifted or lost data")
			}
			idle(t, s)
			// Six chunks, one answer rejected and asked again.
			if n, _ := e.cdn.CDNStats(""); n != 7 {
				t.Fatalf("%d requests, want 7: %+v", n, e.cdn.CDNRanges())
			}
			if st := s.Stats(); st.Failovers != 1 {
				t.Fatalf("stats %+v, want one failover", st)
			}
		})
	}
}

func TestCDNFirstAnswerMustBe206WithARange(t *testing.T) {
	f := spotifytest.New(t)
	f.Handle(cdnA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "the whole file, Range ignored")
	}))
	_, err := source.Open(context.Background(), source.Config{
		Client: f.Client(), URLs: source.StaticURLs{spotifytest.CDNURL(cdnA, cdnPath, "")},
		Sleep: (&sleeps{}).Sleep,
	})
	if err == nil || !strings.Contains(err.Error(), "want 206") {
		t.Fatalf("err %v", err)
	}
}

func TestCDNMemoryBound(t *testing.T) {
	e := newCDNEnv(t, 40*testChunk)
	s := e.open(t, nil)
	buf := make([]byte, 3000)
	// Sequential, then jumps back and forth.
	for _, off := range []int64{0, 5000, 20 * testChunk, 3 * testChunk, 39*testChunk + 1, 7 * testChunk, 0} {
		n, err := s.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], e.data[off:off+int64(n)]) {
			t.Fatalf("bytes differ at %d", off)
		}
	}
	_ = readAll(t, s)
	idle(t, s)
	if st := s.Stats(); st.MaxChunksHeld > testMaxChk || st.ChunksHeld > testMaxChk {
		t.Fatalf("stats %+v: more than %d chunks held", st, testMaxChk)
	}
}

func TestCDNCloseUnblocksAWaitingRead(t *testing.T) {
	e := newCDNEnv(t, 8*testChunk)
	entered := make(chan struct{}, 16)
	e.f.Handle("cdn-slow.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "bytes=0-"+strconv.Itoa(testChunk-1) {
			entered <- struct{}{}
			<-r.Context().Done() // hangs until the client gives up
			return
		}
		e.cdn.ServeHTTP(w, r)
	}))
	e.urls.first = []source.URL{{URL: spotifytest.CDNURL("cdn-slow.test", cdnPath, "")}}
	s := e.open(t, nil)
	done := make(chan error, 1)
	go func() {
		_, err := s.ReadAt(make([]byte, 10), 5*testChunk)
		done <- err
	}()
	<-entered
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, source.ErrClosed) {
		t.Fatalf("read after Close: %v, want ErrClosed", err)
	}
	if _, err := s.ReadAt(make([]byte, 1), 0); !errors.Is(err, source.ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
}

func TestCDNSlowHostTimesOutAndFailsOver(t *testing.T) {
	e := newCDNEnv(t, 4*testChunk)
	// The timeout must only catch the slow host: under load (race
	// detector, shared cores) a good request may take far more than
	// 100 ms, so it is a second, against a delay of an hour.
	s := e.open(t, func(c *source.Config) { c.RequestTimeout = time.Second })
	// cdn-a now holds every answer back for an hour: each request to it
	// can only end by the client's timeout.
	e.cdn.CDNSetDelay(cdnA, time.Hour)
	if got := readAll(t, s); !bytes.Equal(got, e.data) {
		t.Fatal("bytes differ")
	}
	var a, b int
	for _, r := range e.cdn.CDNRanges()[1:] {
		switch r.Host {
		case cdnA:
			a++
			if r.Status == http.StatusPartialContent {
				t.Fatalf("slow request answered: %+v", r)
			}
		case cdnB:
			b++
		}
	}
	if a != 1 || b != 3 {
		t.Fatalf("%d requests to the slow host (want 1), %d to the other (want 3): %+v", a, b, e.cdn.CDNRanges())
	}
}

// TestCDNFailedReadAheadIsNotRetriedUntilTheNextRead: with every host down
// the read-ahead gives up on its chunk after MaxAttempts and does not loop;
// the next read tries again.
func TestCDNFailedReadAheadIsNotRetriedUntilTheNextRead(t *testing.T) {
	e := newCDNEnv(t, 4*testChunk)
	s := e.open(t, func(c *source.Config) { c.MaxAttempts = 2 })
	e.cdn.CDNUnavailable(cdnA, -1)
	e.cdn.CDNUnavailable(cdnB, -1)
	buf := make([]byte, 10)
	if _, err := s.ReadAt(buf, 0); err != nil { // chunk 0 is held; starts the read-ahead
		t.Fatal(err)
	}
	idle(t, s)
	if n, _ := e.cdn.CDNStats(""); n != 1+2 {
		t.Fatalf("%d requests, want 3 (Open, then two attempts at chunk 1): %+v", n, e.cdn.CDNRanges())
	}
	e.cdn.CDNReset()
	if _, err := s.ReadAt(buf, 1); err != nil {
		t.Fatal(err)
	}
	idle(t, s)
	if n, _ := e.cdn.CDNStats(""); n != testAhead {
		t.Fatalf("%d requests after recovery, want the %d read-ahead chunks", n, testAhead)
	}
}

func TestCDNServerAnswers(t *testing.T) {
	e := newCDNEnv(t, 1000)
	c := e.f.Client()
	get := func(host, path, rng string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, spotifytest.CDNURL(host, path, ""), nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, b := get(cdnA, cdnPath, "bytes=10-19")
	if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != "bytes 10-19/1000" || !bytes.Equal(b, e.data[10:20]) {
		t.Fatalf("range: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	resp, b = get(cdnA, cdnPath, "bytes=990-")
	if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != "bytes 990-999/1000" || len(b) != 10 {
		t.Fatalf("open range: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	if resp, b = get(cdnA, cdnPath, ""); resp.StatusCode != 200 || !bytes.Equal(b, e.data) {
		t.Fatalf("no range: %d", resp.StatusCode)
	}
	for _, bad := range []string{"bytes=1000-", "bytes=5-2", "bytes=0-1,4-5", "items=0-1"} {
		if resp, _ = get(cdnA, cdnPath, bad); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
			t.Fatalf("%q: %d", bad, resp.StatusCode)
		}
	}
	if resp, _ = get(cdnA, "/audio/none", "bytes=0-1"); resp.StatusCode != 404 {
		t.Fatalf("unknown file: %d", resp.StatusCode)
	}
	e.cdn.CDNExpire(cdnB, true)
	if resp, _ = get(cdnB, cdnPath, "bytes=0-1"); resp.StatusCode != 403 {
		t.Fatalf("expired host: %d", resp.StatusCode)
	}
	if resp, _ = get(cdnA, cdnPath, "bytes=0-1"); resp.StatusCode != 206 {
		t.Fatalf("faults leak across hosts: %d", resp.StatusCode)
	}
	if n, by := e.cdn.CDNStats(cdnA); n != 9 || by != 10+10+1000+2 {
		t.Fatalf("stats on cdn-a: %d requests, %d bytes", n, by)
	}
}

func TestCDNURLSourceFailureBacksOffAndRecovers(t *testing.T) {
	e := newCDNEnv(t, 4*testChunk)
	e.urls.first = e.urls.first[:1]
	e.urls.fresh = []source.URL{{URL: spotifytest.CDNURL(cdnB, cdnPath, "")}}
	s := e.open(t, nil)
	e.cdn.CDNExpire(cdnA, true)
	e.urls.mu.Lock()
	e.urls.failNext = 1
	e.urls.mu.Unlock()
	if got := readAll(t, s); !bytes.Equal(got, e.data) {
		t.Fatal("bytes differ")
	}
	if sl := e.sleep.all(); len(sl) != 1 {
		t.Fatalf("backoffs %v, want one after the failed lookup", sl)
	}
	if n := e.urls.refreshes(); n != 2 {
		t.Fatalf("%d refreshes, want 2 (one failed)", n)
	}
}

// TestCDNURLsExpiredByAWrongClockAreStillUsed: a device clock far ahead
// (no RTC, no NTP yet) must not make every URL unusable.
func TestCDNURLsExpiredByAWrongClockAreStillUsed(t *testing.T) {
	e := newCDNEnv(t, 3*testChunk)
	e.urls.first = []source.URL{{URL: spotifytest.CDNURL(cdnA, cdnPath, ""), Expires: time.Unix(1_000_000, 0)}}
	s := e.open(t, func(c *source.Config) { c.Now = func() time.Time { return time.Unix(2_000_000_000, 0) } })
	if got := readAll(t, s); !bytes.Equal(got, e.data) {
		t.Fatal("bytes differ")
	}
}

// Package source provides random-access byte sources for the audio chain.
//
// Stream reads a remote file over HTTP Range requests in fixed chunks, keeps
// a bounded number of chunks in memory (least recently used go first), reads
// a few chunks ahead of the reader, checks every answer (206, the exact
// range asked for, the same total size), retries with jittered backoff and
// fails over between the URLs a URLSource gives, asking it for fresh ones
// when a URL has expired or every URL failed. A transfer that breaks in the
// middle of a chunk resumes at the byte where it broke, on the next URL.
//
// It knows nothing of Spotify: the CDN URLs come through URLSource.
package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/speakerbox/speakerbox/internal/ctxsleep"
)

// Defaults for Config's zero values.
const (
	// DefaultChunkSize is 128 KiB: about 3.3 s of 320 kbps audio (6.5 s at
	// 160), so one request per several seconds of play keeps the request
	// overhead (headers, a round trip) under 1%, while a seek into a part
	// not fetched yet waits for only 128 KiB (about 0.1 s at 10 Mbit/s)
	// before its first byte. go-librespot's 512 KiB chunks make that wait
	// four times longer and hold four times the memory per chunk.
	DefaultChunkSize = 128 << 10
	// DefaultReadAhead chunks are fetched beyond the one holding the end of
	// the last read: 4 × 128 KiB is 13 s of 320 kbps audio, enough to ride
	// out a failover with a few backoff steps without the sink running dry.
	DefaultReadAhead = 4
	// DefaultMaxChunks bounds the memory per stream: 16 × 128 KiB = 2 MiB,
	// the read-ahead window plus room for what the decoder reads behind the
	// play position (Ogg page searches on a seek). Two streams (the playing
	// track and a prefetch) hold 4 MiB: under 1% of a Pi Zero's 512 MB,
	// where keeping whole files (go-librespot) costs 12 MB for a 5-minute
	// 320 kbps track and 70 MB for an hour-long 160 kbps episode, each.
	DefaultMaxChunks = 16
	// DefaultMaxAttempts bounds the requests for one chunk across all URLs
	// and refreshes before ReadAt gives up with an error.
	DefaultMaxAttempts = 8
	// DefaultRequestTimeout bounds one request from sending to the last
	// body byte: a 128 KiB chunk in 15 s is 70 kbit/s, below what even 96
	// kbps audio needs, so a host that slow is as good as down.
	DefaultRequestTimeout = 15 * time.Second
	DefaultMinBackoff     = 200 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	// DefaultExpiryMargin: a URL this close to its expiry counts as expired,
	// so a request does not start on a URL that dies during the transfer.
	DefaultExpiryMargin = 30 * time.Second
)

// ErrClosed is returned by ReadAt after Close.
var ErrClosed = errors.New("source: stream closed")

// ErrExpired is the cause of a failed request that the server refused with
// 403 or 410, taken to mean that the URL has expired.
var ErrExpired = errors.New("source: URL expired or refused (403/410)")

// errPermanent marks an answer that asking the same URL again will not
// change (no Range support, 404).
var errPermanent = errors.New("not retried on this URL")

// URL is one location of the file. Expires is when the URL stops working
// (zero: never, as far as the source knows).
type URL struct {
	URL     string
	Expires time.Time
}

// URLSource gives the URLs of one remote file, best first. refresh asks for
// fresh URLs (after an expiry or when every URL failed) instead of ones the
// source may have cached. It must return at least one URL or an error.
type URLSource interface {
	URLs(ctx context.Context, refresh bool) ([]URL, error)
}

// StaticURLs is a URLSource with fixed URLs that never expire.
type StaticURLs []string

// URLs returns the fixed URLs.
func (s StaticURLs) URLs(context.Context, bool) ([]URL, error) {
	if len(s) == 0 {
		return nil, errors.New("source: no URLs")
	}
	out := make([]URL, len(s))
	for i, u := range s {
		out[i] = URL{URL: u}
	}
	return out, nil
}

// Config configures a Stream. URLs is required; zero values take the
// defaults above.
type Config struct {
	Client    *http.Client // http.DefaultClient when nil
	URLs      URLSource
	UserAgent string
	Log       *slog.Logger

	ChunkSize   int
	ReadAhead   int // chunks; <0 means none
	MaxChunks   int // at least ReadAhead+2
	MaxAttempts int
	// RequestTimeout bounds each request, body included.
	RequestTimeout time.Duration

	MinBackoff, MaxBackoff time.Duration
	ExpiryMargin           time.Duration
	// Now is the clock for URL expiry (time.Now by default).
	Now func() time.Time
	// Sleep waits d or until ctx ends (a timer by default); tests inject one
	// that does not sleep.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a value in [0,1) (math/rand/v2 by default).
	Jitter func() float64
}

// Stats counts what a Stream did. Bytes counts response body bytes
// received, including those of answers later rejected.
type Stats struct {
	Requests      int   // HTTP requests sent
	Bytes         int64 // body bytes received
	Failovers     int   // moves to another URL after a failure
	Refreshes     int   // calls of URLSource.URLs with refresh true
	ChunksFetched int   // chunks completed
	ChunksHeld    int   // chunk buffers held now
	MaxChunksHeld int   // most chunk buffers ever held at once
}

// Stream is a ReaderAt over a remote file. It is safe for concurrent use.
// It holds no goroutine while idle; Close stops the one fetching, if any,
// and waits for it.
type Stream struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	size   int64
	n      int64 // number of chunks

	// fetch state, owned by whoever fetches (Open, then the worker)
	urls       []URL
	cur        int
	failed     int  // URLs failed in a row since the last refresh
	expiredRun int  // expired answers in a row
	refresh    bool // the next URL lookup must ask for fresh URLs
	fetchedAny bool // URLs has been asked at least once

	mu      sync.Mutex
	chunks  map[int64]*chunk
	demand  []int64 // chunks readers wait for, in order of asking
	readPos int64   // chunk holding the end of the last read; -1 before any
	// aheadFailed stops the read-ahead after a failed chunk until the next
	// read, so a host that is down is not asked again and again for
	// chunks nobody waits for.
	aheadFailed bool
	tick        uint64
	free        [][]byte
	held        int
	running     bool
	idle        chan struct{} // closed while no worker runs
	closed      bool
	stats       Stats
	wg          sync.WaitGroup
}

type chunk struct {
	idx      int64
	buf      []byte
	ready    bool
	fetching bool
	err      error
	done     chan struct{}
	used     uint64
	waiters  int
}

// Open asks cfg.URLs for the file's URLs and fetches the first chunk, which
// gives the file's size. ctx bounds the stream's whole life (as Close
// does).
func Open(ctx context.Context, cfg Config) (*Stream, error) {
	if cfg.URLs == nil {
		return nil, errors.New("source: Config.URLs is nil")
	}
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.ReadAhead == 0 {
		cfg.ReadAhead = DefaultReadAhead
	}
	if cfg.ReadAhead < 0 {
		cfg.ReadAhead = 0
	}
	if cfg.MaxChunks == 0 {
		cfg.MaxChunks = max(DefaultMaxChunks, cfg.ReadAhead+2)
	}
	if cfg.MaxChunks < cfg.ReadAhead+2 {
		return nil, fmt.Errorf("source: Config.MaxChunks %d: must be at least ReadAhead+2 = %d (the chunk read and the read-ahead must fit)",
			cfg.MaxChunks, cfg.ReadAhead+2)
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.ExpiryMargin <= 0 {
		cfg.ExpiryMargin = DefaultExpiryMargin
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = ctxsleep.Sleep
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	s := &Stream{
		cfg:     cfg,
		log:     cfg.Log,
		size:    -1,
		chunks:  map[int64]*chunk{},
		readPos: -1,
		idle:    make(chan struct{}),
	}
	close(s.idle)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.ctx, s.cancel = context.WithCancel(ctx)

	c := &chunk{idx: 0, buf: make([]byte, cfg.ChunkSize), done: make(chan struct{})}
	s.held, s.stats.ChunksHeld, s.stats.MaxChunksHeld = 1, 1, 1
	if err := s.fetch(c); err != nil {
		s.cancel()
		return nil, err
	}
	s.n = (s.size + int64(cfg.ChunkSize) - 1) / int64(cfg.ChunkSize)
	c.ready = true
	close(c.done)
	s.chunks[0] = c
	return s, nil
}

// OpenHTTP opens a Stream over one URL that does not expire, with the
// default settings.
func OpenHTTP(ctx context.Context, client *http.Client, url string) (*Stream, error) {
	return Open(ctx, Config{Client: client, URLs: StaticURLs{url}})
}

// Size is the length of the file in bytes.
func (s *Stream) Size() int64 { return s.size }

// Stats returns the counters so far.
func (s *Stream) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ChunksHeld = s.held
	return st
}

// Close stops fetching, fails waiting and later reads with ErrClosed and
// waits for the fetching goroutine to end. It is idempotent.
func (s *Stream) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.cancel()
		for _, c := range s.chunks {
			if !c.ready && c.err == nil && !c.fetching {
				c.err = ErrClosed
				close(c.done)
			}
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// WaitIdle blocks until no chunk is being fetched or wanted (tests and
// benchmarks use it to count requests after the read-ahead settled).
func (s *Stream) WaitIdle(ctx context.Context) error {
	for {
		s.mu.Lock()
		running, idle := s.running, s.idle
		s.mu.Unlock()
		if !running {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ReadAt reads len(p) bytes at off, waiting for chunks not fetched yet
// (fewer bytes, with io.EOF, at the end of the file).
func (s *Stream) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("source: read at negative offset %d", off)
	}
	if off >= s.size {
		return 0, io.EOF
	}
	want := p
	if rest := s.size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	cs := int64(s.cfg.ChunkSize)
	n := 0
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if len(want) > 0 {
		s.readPos = (off + int64(len(want)) - 1) / cs
	}
	s.aheadFailed = false
	for n < len(want) {
		pos := off + int64(n)
		idx := pos / cs
		c, err := s.chunkLocked(idx)
		if err != nil {
			return n, err
		}
		n += copy(want[n:], c.buf[pos-idx*cs:])
		s.tick++
		c.used = s.tick
	}
	// Start the read-ahead even when everything was cached.
	s.startLocked()
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// chunkLocked returns chunk idx ready, waiting (with the lock released) for
// its fetch.
func (s *Stream) chunkLocked(idx int64) (*chunk, error) {
	c := s.chunks[idx]
	if c != nil && c.ready {
		return c, nil
	}
	if c == nil {
		c = &chunk{idx: idx, done: make(chan struct{})}
		s.chunks[idx] = c
	}
	if !c.fetching {
		s.demand = append(s.demand, idx)
	}
	c.waiters++
	s.startLocked()
	s.mu.Unlock()
	select {
	case <-c.done:
	case <-s.ctx.Done():
	}
	s.mu.Lock()
	c.waiters--
	switch {
	case c.ready:
		return c, nil
	case c.err != nil:
		return nil, c.err
	case s.closed:
		return nil, ErrClosed
	default:
		return nil, fmt.Errorf("source: read chunk %d: %w", idx, context.Cause(s.ctx))
	}
}

// startLocked starts the worker when there is work and none runs.
func (s *Stream) startLocked() {
	if s.running || s.closed || s.ctx.Err() != nil {
		return
	}
	if !s.hasWorkLocked() {
		return
	}
	s.running = true
	s.idle = make(chan struct{})
	s.wg.Add(1)
	go s.work()
}

func (s *Stream) hasWorkLocked() bool {
	for _, idx := range s.demand {
		if c := s.chunks[idx]; c != nil && !c.ready && !c.fetching {
			return true
		}
	}
	return s.aheadLocked() >= 0
}

// aheadLocked is the first chunk of the read-ahead window not held, or -1.
func (s *Stream) aheadLocked() int64 {
	if s.readPos < 0 || s.aheadFailed {
		return -1
	}
	for i := s.readPos + 1; i <= s.readPos+int64(s.cfg.ReadAhead) && i < s.n; i++ {
		if s.chunks[i] == nil {
			return i
		}
	}
	return -1
}

// pickLocked chooses the next chunk to fetch: what a reader waits for
// first, then the read-ahead. It gives the chunk a buffer.
func (s *Stream) pickLocked() *chunk {
	var c *chunk
	for c == nil && len(s.demand) > 0 {
		idx := s.demand[0]
		s.demand = s.demand[1:]
		if d := s.chunks[idx]; d != nil && !d.ready && !d.fetching {
			c = d
		}
	}
	if c == nil {
		idx := s.aheadLocked()
		if idx < 0 {
			return nil
		}
		c = &chunk{idx: idx, done: make(chan struct{})}
		s.chunks[idx] = c
	}
	c.fetching = true
	c.buf = s.bufferLocked(c)
	return c
}

// bufferLocked finds a chunk buffer: a free one, a new one while under the
// bound, else the one of the least recently used ready chunk that no
// reader is copying from.
func (s *Stream) bufferLocked(skip *chunk) []byte {
	if k := len(s.free); k > 0 {
		b := s.free[k-1]
		s.free = s.free[:k-1]
		return b
	}
	if s.held < s.cfg.MaxChunks {
		return s.newBufferLocked()
	}
	var lru *chunk
	for _, c := range s.chunks {
		if c.ready && c.waiters == 0 && c != skip && (lru == nil || c.used < lru.used) {
			lru = c
		}
	}
	if lru == nil {
		// Every held chunk has a reader copying from it: only possible
		// with more concurrent readers than MaxChunks. Go over the bound
		// rather than stall.
		return s.newBufferLocked()
	}
	delete(s.chunks, lru.idx)
	return lru.buf[:cap(lru.buf)]
}

func (s *Stream) newBufferLocked() []byte {
	s.held++
	s.stats.MaxChunksHeld = max(s.stats.MaxChunksHeld, s.held)
	return make([]byte, s.cfg.ChunkSize)
}

// work fetches chunks until none is wanted, then ends.
func (s *Stream) work() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		var c *chunk
		if !s.closed && s.ctx.Err() == nil {
			c = s.pickLocked()
		}
		if c == nil {
			s.running = false
			close(s.idle)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()

		err := s.fetch(c)

		s.mu.Lock()
		c.fetching = false
		if err == nil {
			c.ready = true
			s.tick++
			c.used = s.tick
			s.stats.ChunksFetched++
		} else {
			// Forget the chunk, so a later read tries again.
			c.err = err
			delete(s.chunks, c.idx)
			s.free = append(s.free, c.buf[:cap(c.buf)])
			c.buf = nil
			if c.waiters > 0 && !s.closed {
				s.log.Warn("fetch failed", "chunk", c.idx, "err", err)
			}
			if c.waiters == 0 {
				s.aheadFailed = true
			}
		}
		close(c.done)
		s.mu.Unlock()
	}
}

// chunkLen is the length of chunk idx (the last one may be short).
func (s *Stream) chunkLen(idx int64) int {
	cs := int64(s.cfg.ChunkSize)
	return int(min(cs, s.size-idx*cs))
}

// fetch fills c.buf with chunk c.idx, retrying and failing over. Only one
// goroutine fetches at a time (Open, then the worker), so the URL state
// needs no lock.
func (s *Stream) fetch(c *chunk) error {
	first := c.idx * int64(s.cfg.ChunkSize)
	want := len(c.buf) // until the size is known (Open): a whole chunk
	if s.size >= 0 {
		want = s.chunkLen(c.idx)
	}
	got := 0
	var lastErr error
	for attempt := 1; ; attempt++ {
		wait := true
		u, err := s.url()
		if err == nil {
			var n int
			n, want, err = s.get(u, first+int64(got), first+int64(want)-1, c.buf[got:], got == 0 && s.size < 0)
			want += got
			got += n
			if err == nil && got == want {
				c.buf = c.buf[:want]
				s.failed, s.expiredRun = 0, 0
				return nil
			}
			if err == nil {
				err = fmt.Errorf("got %d of %d bytes", got, want)
			}
			wait = s.failURL(u, err)
		}
		if s.ctx.Err() != nil {
			if s.closed {
				return ErrClosed
			}
			return fmt.Errorf("source: fetch bytes %d-%d: %w", first, first+int64(want)-1, s.ctx.Err())
		}
		lastErr = err
		if errors.Is(err, errPermanent) && s.refresh {
			// Every URL refused the request for good (no Range support,
			// 404): retrying will not help.
			return fmt.Errorf("source: fetch bytes %d-%d: %w", first+int64(got), first+int64(want)-1, lastErr)
		}
		if attempt >= s.cfg.MaxAttempts {
			return fmt.Errorf("source: fetch bytes %d-%d: giving up after %d attempts: %w",
				first+int64(got), first+int64(want)-1, attempt, lastErr)
		}
		// A fresh URL (another host not failed yet, or new URLs for an
		// expired one) is tried at once; going round again waits.
		if wait {
			d := s.backoff(attempt)
			s.log.Debug("fetch failed; backing off", "offset", first+int64(got), "attempt", attempt, "wait", d, "err", err)
			if err := s.cfg.Sleep(s.ctx, d); err != nil {
				if s.closed {
					return ErrClosed
				}
				return fmt.Errorf("source: fetch bytes %d-%d: %w (after: %v)", first, first+int64(want)-1, err, lastErr)
			}
		}
	}
}

// url returns the URL to use now, asking the source when there is none, the
// current one has expired, or a refresh is due.
func (s *Stream) url() (URL, error) {
	now := s.cfg.Now()
	live := func(u URL) bool { return u.Expires.IsZero() || now.Add(s.cfg.ExpiryMargin).Before(u.Expires) }
	if !s.refresh && s.cur < len(s.urls) && !live(s.urls[s.cur]) {
		s.refresh = true
	}
	if s.refresh || !s.fetchedAny || len(s.urls) == 0 {
		refresh := s.fetchedAny
		urls, err := s.cfg.URLs.URLs(s.ctx, refresh)
		if refresh {
			s.mu.Lock()
			s.stats.Refreshes++
			s.mu.Unlock()
		}
		if err != nil {
			return URL{}, fmt.Errorf("source: get URLs: %w", err)
		}
		s.fetchedAny = true
		var ok []URL
		for _, u := range urls {
			if live(u) {
				ok = append(ok, u)
			}
		}
		if len(ok) == 0 && len(urls) > 0 {
			// Fresh URLs that our clock calls expired: the clock is more
			// likely wrong (a Pi has no RTC) than the server. Use them
			// until the server says they expired (403).
			s.log.Warn("fresh CDN URLs look expired; is the clock right?", "now", now, "expires", urls[0].Expires)
			for _, u := range urls {
				ok = append(ok, URL{URL: u.URL})
			}
		}
		if len(ok) == 0 {
			return URL{}, errors.New("source: get URLs: none given")
		}
		s.urls, s.cur, s.failed, s.refresh = ok, 0, 0, false
	}
	return s.urls[s.cur], nil
}

// failURL records a failed request on u: an expired URL asks for fresh
// URLs, anything else moves to the next URL, and to fresh URLs once every
// URL failed. wait says whether to back off before the next attempt: not
// when it goes to a URL that has not failed yet, nor for the first refresh
// after an expiry.
func (s *Stream) failURL(u URL, err error) (wait bool) {
	if errors.Is(err, ErrExpired) {
		s.expiredRun++
		s.refresh = true
		s.failed = 0
		s.log.Info("CDN URL expired; asking for fresh URLs", "host", hostOf(u.URL))
		return s.expiredRun > 1
	}
	s.expiredRun = 0
	s.failed++
	wait = s.failed >= len(s.urls)
	if wait {
		s.refresh = true
	}
	if len(s.urls) > 1 {
		s.cur = (s.cur + 1) % len(s.urls)
		s.mu.Lock()
		s.stats.Failovers++
		s.mu.Unlock()
		s.log.Info("CDN request failed; trying the next URL", "host", hostOf(u.URL), "err", err)
	}
	return wait
}

func (s *Stream) backoff(attempt int) time.Duration {
	d := s.cfg.MinBackoff
	for i := 1; i < attempt && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxBackoff)
	return d/2 + time.Duration(s.cfg.Jitter()*float64(d/2))
}

// get requests bytes first..last of u into dst and checks the answer. When
// learn is set (the first request, size unknown) last may lie beyond the
// end: the answer's Content-Range gives the size, and want is cut to it.
// n is the number of bytes written to dst from an answer whose headers
// passed the checks; want is the number of bytes the answer should have had.
func (s *Stream) get(u URL, first, last int64, dst []byte, learn bool) (n, want int, err error) {
	want = int(last - first + 1)
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.URL, nil)
	if err != nil {
		return 0, want, fmt.Errorf("source: request %s: %w", hostOf(u.URL), err)
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(first, 10)+"-"+strconv.FormatInt(last, 10))
	if s.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", s.cfg.UserAgent)
	}
	s.mu.Lock()
	s.stats.Requests++
	s.mu.Unlock()
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		// *url.Error quotes the whole URL, whose query is a credential.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, want, fmt.Errorf("source: GET %s bytes %d-%d: %w", hostOf(u.URL), first, last, err)
	}
	defer func() { _ = resp.Body.Close() }()
	fail := func(format string, args ...any) (int, int, error) {
		return 0, want, fmt.Errorf("source: GET %s bytes %d-%d: %s", hostOf(u.URL), first, last, fmt.Sprintf(format, args...))
	}
	switch {
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusGone:
		return 0, want, fmt.Errorf("source: GET %s bytes %d-%d: status %s: %w", hostOf(u.URL), first, last, resp.Status, ErrExpired)
	case resp.StatusCode == http.StatusOK:
		return 0, want, fmt.Errorf("source: GET %s bytes %d-%d: status %s, want 206: %w", hostOf(u.URL), first, last, resp.Status, errPermanent)
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout &&
		resp.StatusCode != http.StatusTooManyRequests:
		return 0, want, fmt.Errorf("source: GET %s bytes %d-%d: status %s: %w", hostOf(u.URL), first, last, resp.Status, errPermanent)
	case resp.StatusCode != http.StatusPartialContent:
		return fail("status %s, want 206", resp.Status)
	}
	cr := resp.Header.Get("Content-Range")
	a, b, total, ok := ParseContentRange(cr)
	if !ok {
		return fail("bad Content-Range %q", cr)
	}
	if learn {
		if a != first || total <= first {
			return fail("Content-Range %q does not start at %d", cr, first)
		}
		s.size = total
		last = min(last, total-1)
		want = int(last - first + 1)
	}
	if total != s.size {
		return fail("Content-Range %q: total %d, but the file has %d bytes", cr, total, s.size)
	}
	if a != first || b != last {
		return fail("Content-Range %q is not the range asked for", cr)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != int64(want) {
		return fail("Content-Length %d for a %d-byte range", resp.ContentLength, want)
	}
	n, err = io.ReadFull(resp.Body, dst[:want])
	s.mu.Lock()
	s.stats.Bytes += int64(n)
	s.mu.Unlock()
	if err != nil {
		return n, want, fmt.Errorf("source: GET %s bytes %d-%d: body ended after %d of %d bytes: %w", hostOf(u.URL), first, last, n, want, err)
	}
	if resp.ContentLength < 0 {
		// No length announced: a longer body means the range was wrong.
		var one [1]byte
		if m, _ := resp.Body.Read(one[:]); m > 0 {
			return fail("body longer than the %d-byte range", want)
		}
	}
	return n, want, nil
}

// ParseContentRange parses "bytes a-b/total" strictly (no spaces beyond the
// one after "bytes", no "*", a ≤ b < total).
func ParseContentRange(v string) (a, b, total int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	as, bs, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	num := func(s string) (int64, bool) {
		if s == "" || strings.Trim(s, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	var ok1, ok2, ok3 bool
	a, ok1 = num(as)
	b, ok2 = num(bs)
	total, ok3 = num(tot)
	if !ok1 || !ok2 || !ok3 || a > b || b >= total {
		return 0, 0, 0, false
	}
	return a, b, total, true
}

// hostOf is the host of a URL for logs and errors: CDN URLs carry tokens
// in their query that must not reach a log.
func hostOf(u string) string {
	rest := u
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	return rest
}

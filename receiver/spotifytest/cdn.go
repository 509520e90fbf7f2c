package spotifytest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CDNRange is one request a CDNServer took. Bytes counts the body bytes
// the server set out to write (recorded before writing them).
type CDNRange struct {
	Host, Path string
	// Range is the Range header as sent; First and Last the bytes it asked
	// for (Last clamped to the file's end; both -1 without a Range).
	Range       string
	First, Last int64
	Status      int
	Bytes       int64 // body bytes (fewer than asked when a fault cut it)
}

// cdnHostFaults are the faults set for one host.
type cdnHostFaults struct {
	dropAfter   int64 // >=0: the next answer is cut after this many body bytes
	unavailable int   // answer 503 to this many requests; <0 forever
	expired     bool  // answer 403 while set
	short       int   // cut the body in half (clean end, no Content-Length) this many times
	wrongRange  int   // shift the range answered by one byte this many times
	delay       time.Duration
}

// CDNServer serves registered files like Spotify's audio CDN: GET with
// "Range: bytes=a-b" answers 206 with exactly those bytes and
// "Content-Range: bytes a-b/total"; a request without Range gets the whole
// file (200). Mount it with Fake.Handle for one or more host names (e.g.
// "cdn-a.test", "cdn-b.test"): files are shared, faults are set per host.
// It counts range requests and bytes. It is safe for concurrent use.
type CDNServer struct {
	mu     sync.Mutex
	files  map[string][]byte // path -> contents
	faults map[string]*cdnHostFaults
	ranges []CDNRange
}

// NewCDNServer returns a server with no files and no faults.
func NewCDNServer() *CDNServer {
	return &CDNServer{files: map[string][]byte{}, faults: map[string]*cdnHostFaults{}}
}

// CDNSetFile serves data at path (e.g. "/audio/<file id hex>") on every
// host the server is mounted for. The slice is not copied.
func (s *CDNServer) CDNSetFile(path string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files["/"+strings.TrimLeft(path, "/")] = data
}

// CDNURL is the https URL of path on host, with query appended (without
// "?") when not empty, e.g. a "__token__=exp=…" expiry token.
func CDNURL(host, path, query string) string {
	u := "https://" + host + "/" + strings.TrimLeft(path, "/")
	if query != "" {
		u += "?" + query
	}
	return u
}

func (s *CDNServer) cdnFaultsLocked(host string) *cdnHostFaults {
	host = strings.ToLower(host)
	f := s.faults[host]
	if f == nil {
		f = &cdnHostFaults{dropAfter: -1}
		s.faults[host] = f
	}
	return f
}

// CDNDropAfter cuts the next answer from host after n body bytes: the
// headers promise the whole range, the connection (HTTP/1) or stream
// (HTTP/2) is then reset.
func (s *CDNServer) CDNDropAfter(host string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cdnFaultsLocked(host).dropAfter = n
}

// CDNUnavailable answers the next n requests to host with 503 (n<0: every
// request until CDNReset).
func (s *CDNServer) CDNUnavailable(host string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cdnFaultsLocked(host).unavailable = n
}

// CDNExpire answers every request to host with 403, as the CDN does for an
// expired URL, while expired is true.
func (s *CDNServer) CDNExpire(host string, expired bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cdnFaultsLocked(host).expired = expired
}

// CDNShortBody makes the next n answers from host end cleanly after half
// the range, with a correct Content-Range and no Content-Length, so only a
// client that counts the bytes notices.
func (s *CDNServer) CDNShortBody(host string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cdnFaultsLocked(host).short = n
}

// CDNWrongRange makes the next n answers from host serve the range one byte
// later than asked, with a Content-Range saying so: a client that does not
// check Content-Range shifts the data by a byte.
func (s *CDNServer) CDNWrongRange(host string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cdnFaultsLocked(host).wrongRange = n
}

// CDNSetDelay holds every answer from host back for d (0 ends it). A
// request whose client gives up first is abandoned.
func (s *CDNServer) CDNSetDelay(host string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cdnFaultsLocked(host).delay = d
}

// CDNReset clears every fault on every host and forgets the recorded
// requests (files stay).
func (s *CDNServer) CDNReset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[string]*cdnHostFaults{}
	s.ranges = nil
}

// CDNRanges returns the requests taken so far, in arrival order.
func (s *CDNServer) CDNRanges() []CDNRange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]CDNRange(nil), s.ranges...)
}

// CDNStats counts the requests taken and the body bytes written, on one
// host or ("") on all.
func (s *CDNServer) CDNStats(host string) (requests int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.ranges {
		if host == "" || r.Host == strings.ToLower(host) {
			requests++
			bytes += r.Bytes
		}
	}
	return requests, bytes
}

// cdnParseRange reads "bytes=a-b" or "bytes=a-" against a file of size n.
func cdnParseRange(v string, n int64) (first, last int64, ok bool) {
	spec, found := strings.CutPrefix(v, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	as, bs, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false
	}
	first, err := strconv.ParseInt(as, 10, 64)
	if err != nil || first < 0 || first >= n {
		return 0, 0, false
	}
	last = n - 1
	if bs != "" {
		last, err = strconv.ParseInt(bs, 10, 64)
		if err != nil || last < first {
			return 0, 0, false
		}
		last = min(last, n-1)
	}
	return first, last, true
}

func (s *CDNServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := fakeHostOf(r.Host)
	rec := CDNRange{Host: host, Path: r.URL.Path, Range: r.Header.Get("Range"), First: -1, Last: -1}
	s.mu.Lock()
	data, found := s.files[r.URL.Path]
	f := *s.cdnFaultsLocked(host)
	st := s.cdnFaultsLocked(host)
	// Consume the one-shot faults this request takes.
	status := 0
	switch {
	case r.Method != http.MethodGet:
		status = http.StatusMethodNotAllowed
	case f.expired:
		status = http.StatusForbidden
	case f.unavailable != 0:
		status = http.StatusServiceUnavailable
		if st.unavailable > 0 {
			st.unavailable--
		}
	case !found:
		status = http.StatusNotFound
	}
	drop, short, wrong := int64(-1), false, false
	if status == 0 {
		if st.dropAfter >= 0 {
			drop, st.dropAfter = st.dropAfter, -1
		}
		if st.short > 0 {
			short = true
			st.short--
		}
		if st.wrongRange > 0 {
			wrong = true
			st.wrongRange--
		}
	}
	if found && rec.Range != "" {
		if a, b, ok := cdnParseRange(rec.Range, int64(len(data))); ok {
			rec.First, rec.Last = a, b
		}
	}
	// Recorded on arrival and updated before each write, so a client that
	// has its answer finds the request counted.
	idx := len(s.ranges)
	s.ranges = append(s.ranges, rec)
	s.mu.Unlock()
	set := func(edit func(*CDNRange)) {
		s.mu.Lock()
		edit(&s.ranges[idx])
		s.mu.Unlock()
	}

	if f.delay > 0 {
		t := time.NewTimer(f.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			set(func(r *CDNRange) { r.Status = -1 })
			return
		}
	}
	if status != 0 {
		set(func(r *CDNRange) { r.Status = status })
		http.Error(w, fmt.Sprintf("spotifytest: CDN %s answers %d", host, status), status)
		return
	}
	size := int64(len(data))
	if rec.Range == "" {
		set(func(r *CDNRange) { r.Status, r.Bytes = http.StatusOK, size })
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(data)
		return
	}
	first, last, ok := cdnParseRange(rec.Range, size)
	if !ok {
		set(func(r *CDNRange) { r.Status = http.StatusRequestedRangeNotSatisfiable })
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		http.Error(w, "spotifytest: CDN: bad range", http.StatusRequestedRangeNotSatisfiable)
		return
	}
	if wrong && last+1 < size {
		first, last = first+1, last+1
	}
	body := data[first : last+1]
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, size))
	w.Header().Set("Content-Type", "application/octet-stream")
	if short {
		body = body[:len(body)/2]
		// No Content-Length: the body ends cleanly where it stops.
	} else {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	if drop >= 0 && drop < int64(len(body)) {
		set(func(r *CDNRange) { r.Status, r.Bytes = http.StatusPartialContent, drop })
		w.WriteHeader(http.StatusPartialContent)
		_, _ = w.Write(body[:drop])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		// Resets the HTTP/2 stream, or closes the HTTP/1 connection, with
		// the answer incomplete.
		panic(http.ErrAbortHandler)
	}
	set(func(r *CDNRange) { r.Status, r.Bytes = http.StatusPartialContent, int64(len(body)) })
	w.WriteHeader(http.StatusPartialContent)
	_, _ = w.Write(body)
}

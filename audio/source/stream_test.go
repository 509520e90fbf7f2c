package source

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		v       string
		a, b, n int64
		ok      bool
	}{
		{"bytes 0-99/100", 0, 99, 100, true},
		{"bytes 5-5/6", 5, 5, 6, true},
		{"bytes 0-99/99", 0, 0, 0, false},
		{"bytes 10-9/100", 0, 0, 0, false},
		{"bytes */100", 0, 0, 0, false},
		{"bytes 0-99/*", 0, 0, 0, false},
		{"bytes  0-99/100", 0, 0, 0, false},
		{"bytes 0-99/100 ", 0, 0, 0, false},
		{"bytes -1-99/100", 0, 0, 0, false},
		{"bytes +1-99/100", 0, 0, 0, false},
		{"items 0-99/100", 0, 0, 0, false},
		{"bytes 0-99", 0, 0, 0, false},
		{"bytes 0-99999999999999999999/100", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		a, b, n, ok := ParseContentRange(tc.v)
		if ok != tc.ok || a != tc.a || b != tc.b || n != tc.n {
			t.Errorf("%q: %d %d %d %v", tc.v, a, b, n, ok)
		}
	}
}

func FuzzParseContentRange(f *testing.F) {
	f.Add("bytes 0-99/100")
	f.Add("bytes */1")
	f.Fuzz(func(t *testing.T, v string) {
		a, b, n, ok := ParseContentRange(v)
		if ok && (a < 0 || a > b || b >= n || !strings.HasPrefix(v, "bytes ")) {
			t.Fatalf("%q accepted as %d-%d/%d", v, a, b, n)
		}
	})
}

func TestHostOfKeepsTokensOutOfLogs(t *testing.T) {
	for in, want := range map[string]string{
		"https://audio.example/audio/ab?__token__=exp=1~hmac=secret": "audio.example",
		"https://user:pw@cdn.example:8443/x#frag":                    "cdn.example:8443",
		"cdn.example/path": "cdn.example",
	} {
		if got := hostOf(in); got != want {
			t.Errorf("hostOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenChecksConfig(t *testing.T) {
	if _, err := Open(context.Background(), Config{}); err == nil {
		t.Error("nil URLs accepted")
	}
	_, err := Open(context.Background(), Config{URLs: StaticURLs{"http://x.invalid/"}, ReadAhead: 4, MaxChunks: 5})
	if err == nil || !strings.Contains(err.Error(), "MaxChunks 5") {
		t.Errorf("MaxChunks below ReadAhead+2: %v", err)
	}
	if _, err := (StaticURLs{}).URLs(context.Background(), false); err == nil {
		t.Error("empty StaticURLs: no error")
	}
}

// rangeServer serves data with http.ServeContent and counts requests.
type rangeServer struct {
	data []byte
	mu   sync.Mutex
	n    int
}

func (s *rangeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(s.data))
}

func (s *rangeServer) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func newRangeServer(tb testing.TB, size int) (*rangeServer, *httptest.Server) {
	rs := &rangeServer{data: make([]byte, size)}
	_, _ = rand.NewChaCha8([32]byte{3}).Read(rs.data)
	srv := httptest.NewServer(rs)
	tb.Cleanup(srv.Close)
	return rs, srv
}

// TestConcurrentReadersWithATightBound: readers at random offsets with the
// smallest bound the config allows all get the right bytes, and the bound
// holds (run with -race).
func TestConcurrentReadersWithATightBound(t *testing.T) {
	rs, srv := newRangeServer(t, 40*1024+17)
	s, err := Open(context.Background(), Config{Client: srv.Client(), URLs: StaticURLs{srv.URL}, ChunkSize: 1024, ReadAhead: 1, MaxChunks: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			buf := make([]byte, 1500)
			for range 200 {
				off := r.Int64N(s.Size())
				n, err := s.ReadAt(buf, off)
				if err != nil && err != io.EOF {
					errs <- err
					return
				}
				if !bytes.Equal(buf[:n], rs.data[off:off+int64(n)]) {
					errs <- fmt.Errorf("bytes differ at %d", off)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Four readers may each pin one chunk while copying from it: the bound
	// gives way to them rather than stall, by at most that many.
	if st := s.Stats(); st.ChunksHeld > 3+4 || st.MaxChunksHeld > 3+4 {
		t.Fatalf("stats %+v", st)
	}
}

// readFull reads s from the start in 4 KiB reads, as the decoder does.
func readFull(b *testing.B, r io.ReaderAt, size int64, buf []byte) {
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamFullRead: a 5 MB file (a 320 kbps track of 2 minutes)
// read front to back over loopback HTTP; requests and bytes per read, and
// the time against io.ReaderAt over a bytes.Reader in the same run.
func BenchmarkStreamFullRead(b *testing.B) {
	const size = 5 << 20
	rs, srv := newRangeServer(b, size)
	buf := make([]byte, 4096)
	ref := bytes.NewReader(rs.data)
	var refTime, streamTime time.Duration
	start := rs.requests()
	var bytesFetched int64
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		s, err := Open(context.Background(), Config{Client: srv.Client(), URLs: StaticURLs{srv.URL}})
		if err != nil {
			b.Fatal(err)
		}
		readFull(b, s, size, buf)
		_ = s.WaitIdle(context.Background())
		bytesFetched += s.Stats().Bytes
		_ = s.Close()
		streamTime += time.Since(t0)
		t1 := time.Now()
		readFull(b, ref, size, buf)
		refTime += time.Since(t1)
	}
	b.ReportMetric(float64(rs.requests()-start)/float64(b.N), "requests/op")
	b.ReportMetric(float64(bytesFetched)/float64(b.N), "fetched-bytes/op")
	b.ReportMetric(float64(streamTime)/float64(refTime), "x-bytes.Reader")
}

// BenchmarkStreamSeek: open, then one read in the middle or near the end;
// what it costs in requests and bytes (the first chunk, the target and the
// read-ahead).
func BenchmarkStreamSeek(b *testing.B) {
	const size = 5 << 20
	for _, tc := range []struct {
		name string
		off  int64
	}{{"middle", size / 2}, {"near-end", size - 1000}} {
		b.Run(tc.name, func(b *testing.B) {
			rs, srv := newRangeServer(b, size)
			buf := make([]byte, 4096)
			start := rs.requests()
			var bytesFetched int64
			var streamTime, refTime time.Duration
			ref := bytes.NewReader(rs.data)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				s, err := Open(context.Background(), Config{Client: srv.Client(), URLs: StaticURLs{srv.URL}})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.ReadAt(buf, tc.off); err != nil && err != io.EOF {
					b.Fatal(err)
				}
				_ = s.WaitIdle(context.Background())
				bytesFetched += s.Stats().Bytes
				_ = s.Close()
				streamTime += time.Since(t0)
				t1 := time.Now()
				_, _ = ref.ReadAt(buf, 0)
				_, _ = ref.ReadAt(buf, tc.off)
				refTime += time.Since(t1)
			}
			b.ReportMetric(float64(rs.requests()-start)/float64(b.N), "requests/op")
			b.ReportMetric(float64(bytesFetched)/float64(b.N), "fetched-bytes/op")
			b.ReportMetric(float64(streamTime)/float64(max(refTime, 1)), "x-bytes.Reader")
		})
	}
}

// BenchmarkStreamCachedRead: ReadAt on chunks already held, the hot path
// while playing; it must not allocate.
func BenchmarkStreamCachedRead(b *testing.B) {
	rs, srv := newRangeServer(b, 64<<10)
	s, err := Open(context.Background(), Config{Client: srv.Client(), URLs: StaticURLs{srv.URL}, ChunkSize: 64 << 10, ReadAhead: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	buf := make([]byte, 4096)
	ref := bytes.NewReader(rs.data)
	b.ReportAllocs()
	var refTime time.Duration
	b.ResetTimer()
	t0 := time.Now()
	for i := range b.N {
		if _, err := s.ReadAt(buf, int64(i%15)*4096); err != nil {
			b.Fatal(err)
		}
	}
	streamTime := time.Since(t0)
	b.StopTimer()
	t1 := time.Now()
	for i := range b.N {
		_, _ = ref.ReadAt(buf, int64(i%15)*4096)
	}
	refTime = time.Since(t1)
	b.ReportMetric(float64(streamTime)/float64(max(refTime, 1)), "x-bytes.Reader")
}

func TestErrorsKeepTheURLQueryOut(t *testing.T) {
	_, err := Open(context.Background(), Config{
		URLs:        StaticURLs{"http://127.0.0.1:1/audio/x?__token__=exp=1~hmac=SECRET"},
		MaxAttempts: 1,
	})
	if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("err %v", err)
	}
}

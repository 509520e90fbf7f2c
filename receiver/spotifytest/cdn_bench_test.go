package spotifytest_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/audio/source"
)

// BenchmarkCDNStream: our fetcher with its default settings against the
// CDN fake over TLS (HTTP/2): range requests and bytes for a full read of a
// 5 MiB file (2 minutes of 320 kbps), a seek to the middle and one near the
// end, and the time against io.ReaderAt over a bytes.Reader in the same run.
func BenchmarkCDNStream(b *testing.B) {
	const size = 5 << 20
	for _, tc := range []struct {
		name string
		off  int64 // -1: read everything
	}{{"full-read", -1}, {"seek-middle", size / 2}, {"seek-near-end", size - 1000}} {
		b.Run(tc.name, func(b *testing.B) {
			e := newCDNEnv(b, size)
			buf := make([]byte, 4096)
			ref := bytes.NewReader(e.data)
			var streamTime, refTime time.Duration
			read := func(r io.ReaderAt) {
				if tc.off < 0 {
					for off := int64(0); off < size; off += int64(len(buf)) {
						if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
							b.Fatal(err)
						}
					}
					return
				}
				if _, err := r.ReadAt(buf, 0); err != nil {
					b.Fatal(err)
				}
				if _, err := r.ReadAt(buf, tc.off); err != nil && err != io.EOF {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				s, err := source.Open(context.Background(), source.Config{Client: e.f.Client(), URLs: e.urls})
				if err != nil {
					b.Fatal(err)
				}
				read(s)
				_ = s.WaitIdle(context.Background())
				_ = s.Close()
				streamTime += time.Since(t0)
				t1 := time.Now()
				read(ref)
				refTime += time.Since(t1)
			}
			b.StopTimer()
			n, by := e.cdn.CDNStats("")
			b.ReportMetric(float64(n)/float64(b.N), "requests/op")
			b.ReportMetric(float64(by)/float64(b.N), "fetched-bytes/op")
			b.ReportMetric(float64(streamTime)/float64(max(refTime, 1)), "x-bytes.Reader")
		})
	}
}

package receiver_test

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"

	"github.com/speakerbox/speakerbox/audio/player"
	"github.com/speakerbox/speakerbox/audio/source"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// Issue 11's numbers, through the receiver as `speakerbox run` wires it
// (see stream_bench_helpers_test.go), against the in-process fake with
// 320 kbps files. Each reports its own units with b.ReportMetric; ns/op is
// the cost of a whole iteration (publishing the track on the fake
// included) and means little.

// BenchmarkStreamStartLatency: from the app's transfer request to the
// first sample at the sink, and where it went: before the loader is asked
// (dealer, Connect state machine, track player), the loader's metadata,
// key, storage-resolve and first chunk (key beside the other two), and
// from the loaded stream to the first sample (decoder start: Spotify
// header, Vorbis headers, the decoder's read of the file's last page,
// the first pages, ring and output); cdn-requests-before-sound counts the
// range requests the fake saw before the first sample (read-ahead
// included), tail-read-before-sound the share of starts in which one of
// them fetched the file's last chunk (decode.Open reads the last page for
// the length: a second round trip in series on the way to sound). Reference in
// the same run: one HTTPS round trip to the fake (a 1-byte range request
// on a warm connection); x-roundtrip is the start latency in those.
func BenchmarkStreamStartLatency(b *testing.B) {
	r := newStreamRig(b, 320)
	// 64 s (1.3 MB, ten chunks): the first chunk is not the last, so the
	// requests before the first sample are told apart.
	tr := newBenchTrack(b, 320, 0, 10)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

	uris := r.publish("lat", tr.ogg, tr.durMs, 1)
	one := func(i int) (t0, first time.Time, rec loadRecord) {
		r.res.reset()
		m := r.mark()
		r.sink.arm()
		t0 = time.Now()
		r.transfer(i, uris, 0)
		r.waitEvent(m, player.TrackStarted)
		first = r.sink.firstWrite()
		r.playThrough(m, 1)
		recs := r.res.records()
		if len(recs) != 1 || recs[0].URI != uris[0] || first.IsZero() {
			b.Fatalf("loads %+v, first sample at %v", recs, first)
		}
		return t0, first, recs[0]
	}
	one(-1) // the first load also opens the CDN connections

	ref := roundTrip(b, r)
	var sum struct{ start, before, meta, key, resolve, chunk, load, dec time.Duration }
	cdnBefore := 0  // CDN requests between the transfer and the first sample
	tailBefore := 0 // iterations in which one of them read the file's last chunk
	fileSize := int64(len(tr.ogg) + 167)
	b.ResetTimer()
	for i := range b.N {
		t0, first, rec := one(i)
		tail := false
		for _, q := range r.svc.Fake.Requests() {
			if q.Time.After(t0) && q.Time.Before(first) && strings.HasPrefix(q.Host, "audio-cdn") {
				cdnBefore++
				var from, to int64
				if _, err := fmt.Sscanf(q.Header.Get("Range"), "bytes=%d-%d", &from, &to); err == nil && to >= fileSize-1 && from > 0 {
					tail = true
				}
			}
		}
		if tail {
			tailBefore++
		}
		sum.start += first.Sub(t0)
		sum.before += rec.Asked.Sub(t0)
		sum.dec += first.Sub(rec.Answered)
		sum.meta += rec.Timings.Metadata
		sum.key += rec.Timings.Key
		sum.resolve += rec.Timings.StorageResolve
		sum.chunk += rec.Timings.FirstChunk
		sum.load += rec.Timings.Total
	}
	b.StopTimer()
	n := time.Duration(b.N)
	b.ReportMetric(ms(sum.start/n), "start-ms")
	b.ReportMetric(ms(sum.before/n), "before-load-ms")
	b.ReportMetric(ms(sum.meta/n), "metadata-ms")
	b.ReportMetric(ms(sum.key/n), "key-ms")
	b.ReportMetric(ms(sum.resolve/n), "resolve-ms")
	b.ReportMetric(ms(sum.chunk/n), "firstchunk-ms")
	b.ReportMetric(ms(sum.load/n), "load-ms")
	b.ReportMetric(ms(sum.dec/n), "decoder-start-ms")
	b.ReportMetric(float64(cdnBefore)/float64(b.N), "cdn-requests-before-sound")
	b.ReportMetric(float64(tailBefore)/float64(b.N), "tail-read-before-sound")
	b.ReportMetric(ms(ref), "roundtrip-ms")
	b.ReportMetric(float64(sum.start/n)/float64(ref), "x-roundtrip")
}

// roundTrip is the median of 51 one-byte range requests to the fake CDN
// over the client the loader uses, on a warm connection.
func roundTrip(b *testing.B, r *streamRig) time.Duration {
	b.Helper()
	pub := spotifytest.PublishMedia(b, r.svc.Spclient, r.svc.CDN, r.svc.Dialer.APKeyTable, spotifytest.ServiceCDNHosts,
		spotifytest.MediaItem{URI: spotifytest.MediaURI("track", "roundtrip"), Ogg: []byte("OggS not really"), Formats: []metadatapb.AudioFile_Format{metadatapb.AudioFile_OGG_VORBIS_320}})
	url := spotifytest.MediaCDNURL(spotifytest.ServiceCDNHosts[0], pub.MediaFileID(metadatapb.AudioFile_OGG_VORBIS_320), time.Now().Add(time.Hour))
	c := r.svc.Fake.Client()
	get := func() time.Duration {
		req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Range", "bytes=0-0")
		t0 := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		d := time.Since(t0)
		if resp.StatusCode != http.StatusPartialContent {
			b.Fatalf("round trip: status %d", resp.StatusCode)
		}
		return d
	}
	get()
	ds := make([]time.Duration, 51)
	for i := range ds {
		ds[i] = get()
	}
	return median(ds)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// BenchmarkStreamRanges: range requests and bytes the receiver fetches
// for a 320 kbps track (128 s; oggenc -q9 makes 2.5 MB of the test material) played through from the
// start, from the middle and from 2 s before the end (the app transfers
// at that position: the first sound is the seek target, so nothing before
// it needs to be fetched beyond the header and the seek table's probes).
// of-file is the bytes fetched over the file's size.
func BenchmarkStreamRanges(b *testing.B) {
	r := newStreamRig(b, 320)
	tr := newBenchTrack(b, 320, 1, 20)
	for _, tc := range []struct {
		name  string
		posMs int64
	}{{"full", 0}, {"seek-middle", int64(tr.durMs) / 2}, {"seek-near-end", int64(tr.durMs) - 2000}} {
		b.Run(tc.name, func(b *testing.B) {
			// One track for every iteration: each transfer loads it afresh
			// (the player is idle in between), and the fake stays small.
			uris := r.publish("rng-"+tc.name, tr.ogg, tr.durMs, 1)
			var reqs, bytes int64
			for i := range b.N {
				r.res.reset()
				m := r.mark()
				r.transfer(1000+i, uris, tc.posMs)
				r.playThrough(m, 1)
				recs := r.res.records()
				if len(recs) != 1 {
					b.Fatalf("%d loads", len(recs))
				}
				// The track player owns (and closes) the stream; its counts
				// are final once its fetcher is idle.
				s, ok := recs[0].Loaded.Track.Source.(*source.Stream)
				if !ok {
					b.Fatal("no CDN stream")
				}
				if err := s.WaitIdle(r.ctx); err != nil {
					b.Fatal(err)
				}
				st := s.Stats()
				reqs += int64(st.Requests)
				bytes += st.Bytes
			}
			n := float64(b.N)
			b.ReportMetric(float64(reqs)/n, "requests/op")
			b.ReportMetric(float64(bytes)/n/1024, "KiB/op")
			b.ReportMetric(float64(bytes)/n/float64(len(tr.ogg)+167), "of-file")
			b.ReportMetric(float64(len(tr.ogg))/1024, "file-KiB")
		})
	}
}

// BenchmarkStreamMemory: heap and RSS while the receiver streams a
// two-track album of 320 kbps tracks (128 s, 2.5 MB each) and prefetches
// the second while the first plays. The bound: audio/source keeps at most
// 16 chunks of 128 KiB per stream, 2 MiB, so 4 MiB for a playing and a
// prefetched stream. Sampled on the sink's writes: chunks is the most
// chunk buffers held by all streams at once (from their counters);
// inuse-heap the most in-use heap above the idle device's (garbage not yet
// collected included), every 16th write; live-heap the most live heap
// above the idle device's, after a GC, every 512th write (about 5 s of
// audio); rss the process's resident set at its highest, and its growth
// over the idle device's. The fake Spotify lives in the same process
// (its files and TLS side count), and RSS only means something when this
// benchmark runs alone in its process.
func BenchmarkStreamMemory(b *testing.B) {
	r := newStreamRig(b, 320)
	tr := newBenchTrack(b, 320, 2, 20)
	uris := r.publish("mem", tr.ogg, tr.durMs, 2)
	var peakInuse, peakLive, peakRSS, rssGrowth, peakChunks int64
	var prefetches int
	for i := range b.N {
		r.res.reset()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		idleInuse, idleLive, idleRSS := int64(ms.HeapInuse), int64(ms.HeapAlloc), rssBytes(b)
		writes := 0
		r.sink.setEvery(func() {
			writes++
			if writes%16 != 0 {
				return
			}
			if writes%512 == 0 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				peakLive = max(peakLive, int64(ms.HeapAlloc)-idleLive)
			} else {
				runtime.ReadMemStats(&ms)
			}
			peakInuse = max(peakInuse, int64(ms.HeapInuse)-idleInuse)
			rss := rssBytes(b)
			peakRSS = max(peakRSS, rss)
			rssGrowth = max(rssGrowth, rss-idleRSS)
			chunks := 0
			for _, rec := range r.res.records() {
				if st, ok := rec.Loaded.StreamStats(); ok {
					chunks += st.ChunksHeld
				}
			}
			peakChunks = max(peakChunks, int64(chunks))
		})
		m := r.mark()
		r.transfer(2000+i, uris, 0)
		r.playThrough(m, 2)
		r.sink.setEvery(nil)
		for _, rec := range r.res.records() {
			if rec.Prefetch {
				prefetches++
			}
		}
	}
	const mib = 1 << 20
	b.ReportMetric(float64(peakChunks), "peak-chunks")
	b.ReportMetric(float64(peakChunks)*128/1024, "peak-chunk-MiB")
	b.ReportMetric(float64(peakLive)/mib, "peak-live-heap-MiB")
	b.ReportMetric(float64(peakInuse)/mib, "peak-inuse-heap-MiB")
	b.ReportMetric(float64(peakRSS)/mib, "peak-rss-MiB")
	b.ReportMetric(float64(rssGrowth)/mib, "rss-growth-MiB")
	b.ReportMetric(float64(prefetches)/float64(b.N), "prefetches/op")
}

// BenchmarkStream100Tracks: the live heap (after a GC) when the first of
// 100 tracks (320 kbps, 6 s each, one album) has ended, after the tenth
// and after the last, and the growth per track between the tenth and the
// last. x-first is the heap after 100 tracks over the heap after one. The
// heap holds the fake Spotify too, which keeps every request it answered:
// fake-recorded-* say how much of the growth per track is that.
func BenchmarkStream100Tracks(b *testing.B) {
	r := newStreamRig(b, 320)
	r.res.forget = true
	tr := newBenchTrack(b, 320, 3, 0)
	const tracks = 100
	var h1, h10, h100, rss int64
	// The fake records every request it answers (with its body) and every
	// state PUT: part of the growth per track is its, not the speaker's.
	var rec10, rec100 recorded
	recordedNow := func() recorded {
		var c recorded
		for _, q := range r.svc.Fake.Requests() {
			c.n++
			c.body += int64(len(q.Body))
		}
		return c
	}
	for i := range b.N {
		uris := r.publish(fmt.Sprintf("h%d-", i), tr.ogg, tr.durMs, tracks)
		ended := 0
		heap := func() int64 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return int64(ms.HeapAlloc)
		}
		r.mu.Lock()
		r.onEvent = func(e player.Event) {
			switch e.Type {
			case player.TrackEnded:
				ended++
				switch ended {
				case 1:
					h1 += heap()
				case 10:
					h10 += heap()
					rec10 = rec10.add(recordedNow())
				case tracks:
					h100 += heap()
					rec100 = rec100.add(recordedNow())
					rss += rssBytes(b)
				}
			}
		}
		r.mu.Unlock()
		m := r.mark()
		r.transfer(3000+i, uris, 0)
		r.playThrough(m, tracks)
		r.mu.Lock()
		r.onEvent = nil
		r.mu.Unlock()
		if ended != tracks {
			b.Fatalf("%d tracks ended, want %d", ended, tracks)
		}
	}
	n := float64(b.N)
	const mib = 1 << 20
	b.ReportMetric(float64(h1)/n/mib, "heap-1-MiB")
	b.ReportMetric(float64(h10)/n/mib, "heap-10-MiB")
	b.ReportMetric(float64(h100)/n/mib, "heap-100-MiB")
	b.ReportMetric(float64(h100-h10)/n/(tracks-10)/1024, "KiB/track")
	b.ReportMetric(float64(h100)/float64(h1), "x-first")
	b.ReportMetric(float64(rss)/n/mib, "rss-MiB")
	b.ReportMetric(float64(rec100.n-rec10.n)/n/(tracks-10), "fake-recorded-req/track")
	b.ReportMetric(float64(rec100.body-rec10.body)/n/(tracks-10)/1024, "fake-recorded-body-KiB/track")
}

// recorded counts what the fake has recorded.
type recorded struct{ n, body int64 }

func (r recorded) add(o recorded) recorded { return recorded{r.n + o.n, r.body + o.body} }

// BenchmarkStreamCPU: CPU time (user and system, the whole process) per
// second of audio while the receiver fetches, decrypts and decodes a
// 320 kbps track (64 s) into a sink without a clock, as a fraction; the
// reference in the same iteration is decoding the same file from memory.
// The process holds the fake Spotify too, so its side of TLS is counted:
// the figure is an upper bound for the speaker's own path.
func BenchmarkStreamCPU(b *testing.B) {
	r := newStreamRig(b, 320)
	tr := newBenchTrack(b, 320, 4, 10)
	audioS := float64(tr.samples/2) / 44100
	var path, dec time.Duration
	uris := r.publish("cpu", tr.ogg, tr.durMs, 1)
	for i := range b.N {
		r.res.reset()
		m := r.mark()
		c0 := cpuTime(b)
		r.transfer(4000+i, uris, 0)
		r.playThrough(m, 1)
		path += cpuTime(b) - c0
		c1 := cpuTime(b)
		if _, err := decodeAll(tr.ogg); err != nil {
			b.Fatal(err)
		}
		dec += cpuTime(b) - c1
	}
	n := float64(b.N)
	b.ReportMetric(path.Seconds()/n/audioS*100, "cpu-%-of-audio")
	b.ReportMetric(dec.Seconds()/n/audioS*100, "decode-cpu-%-of-audio")
	b.ReportMetric(float64(path)/float64(dec), "x-decode")
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

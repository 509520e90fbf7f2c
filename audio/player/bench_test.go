package player

import (
	"bytes"
	"io"
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/jfreymuth/oggvorbis"
	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/audiotest"
	"github.com/speakerbox/speakerbox/audio/convert"
	"github.com/speakerbox/speakerbox/audio/decode"
	"github.com/speakerbox/speakerbox/audio/gain"
	"github.com/speakerbox/speakerbox/audio/ring"
)

// decodeOnly decodes b to the end, as the player's producer does, and
// returns the number of frames.
func decodeOnly(tb testing.TB, b []byte, keep []float32) (frames int64, rate, ch int, pcm []float32) {
	d, err := decode.Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		tb.Fatal(err)
	}
	buf := make([]float32, 4096)
	pcm = keep
	for {
		n, err := d.Read(buf)
		if keep != nil {
			pcm = append(pcm, buf[:n]...)
		}
		frames += int64(n / d.Channels())
		if err == io.EOF {
			return frames, d.Rate(), d.Channels(), pcm
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// postStages runs everything after the decoder on pcm, period by period,
// the way the output goroutine does: ring in and out, gain (not unity, so
// the multiply runs; folded into the conversion), conversion to S16_LE with
// dither.
func postStages(pcm []float32, rate, ch int, r *ring.Ring, period []float32, out []byte, conv *convert.Converter, g *gain.Ramp) {
	for len(pcm) > 0 {
		n := min(len(pcm), len(period))
		r.Write(pcm[:n], nil)
		pcm = pcm[n:]
		view, _, _ := r.PeekView(period, 1, nil)
		k := len(view)
		gain, steady := g.Steady()
		if !steady {
			view = period[:copy(period, view)]
			g.Apply(view, ch)
			gain = 1
		}
		conv.ConvertGain(out, view, gain)
		r.Advance(k)
	}
}

// decodeAndPost decodes b chunk by chunk and runs the later stages on each
// chunk while it is still in the cache, as the pipeline does; it returns
// the time spent in each.
func decodeAndPost(tb testing.TB, b []byte, p *postState) (dec, post time.Duration) {
	d, err := decode.Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		tb.Fatal(err)
	}
	for {
		t0 := time.Now()
		n, err := d.Read(p.chunk)
		t1 := time.Now()
		postStages(p.chunk[:n], p.rate, p.ch, p.ring, p.period, p.out, p.conv, &p.gain)
		dec += t1.Sub(t0)
		post += time.Since(t1)
		if err == io.EOF {
			return dec, post
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// decodeBare decodes b with the bare library (oggvorbis.Reader on a
// bytes.Reader, the same buffer size as ours) and returns the time: what
// the pinned decoder itself costs, so that the gap to oggdec can be split
// into the library's share and ours.
func decodeBare(tb testing.TB, b []byte, buf []float32) time.Duration {
	t0 := time.Now()
	r, err := oggvorbis.NewReader(bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := r.Read(buf); err != nil {
			if err != io.EOF {
				tb.Fatal(err)
			}
			return time.Since(t0)
		}
	}
}

type postState struct {
	rate, ch int
	chunk    []float32
	ring     *ring.Ring
	period   []float32
	out      []byte
	conv     *convert.Converter
	gain     gain.Ramp
}

// BenchmarkAudioDecodeVsOggdec measures, in one run on the same files, our
// decoder, the bare library it wraps, and libvorbis's oggdec (times a
// real-time multiple), their ratios, and the cost of everything after the
// decoder as a share of decoding. The three decoders take turns within each
// iteration, so load from other processes falls on all of them alike, and
// every figure is the median over the iterations.
func BenchmarkAudioDecodeVsOggdec(b *testing.B) {
	audiotest.Need(b, "oggdec")
	for _, kbps := range []int{320, 160, 96} {
		spec := audiotest.Spec{Rate: 44100, Channels: 2, Kbps: kbps, Repeat: 10}
		b.Run(spec.String(), func(b *testing.B) {
			path := audiotest.Ogg(b, spec)
			data := audiotest.Read(b, path)
			frames, rate, ch, _ := decodeOnly(b, data, nil)
			audioSec := float64(frames) / float64(rate)
			periodSamples := rate / 50 * ch
			conv, _ := convert.New(ch, audio.Format{Rate: rate, Channels: 2, Sample: audio.S16LE}, true)
			ps := &postState{
				rate: rate, ch: ch,
				chunk:  make([]float32, 4096),
				ring:   ring.New(ring.Samples(500*time.Millisecond, rate, ch)),
				period: make([]float32, periodSamples),
				out:    make([]byte, conv.OutBytes(periodSamples)),
				conv:   conv,
				gain:   gain.NewRamp(rate, 5*time.Millisecond, 0.5),
			}
			// Per iteration, so that the report can take medians: a
			// burst of load from another process on this shared machine
			// then spoils one iteration, not the whole result.
			var ours, bare, ref, post []float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d, p := decodeAndPost(b, data, ps)
				ours = append(ours, d.Seconds())
				post = append(post, p.Seconds())
				bare = append(bare, decodeBare(b, data, ps.chunk).Seconds())
				t0 := time.Now()
				if out, err := exec.Command("oggdec", "-Q", "-R", "-o", "/dev/null", path).CombinedOutput(); err != nil {
					b.Fatalf("oggdec: %v %s", err, out)
				}
				ref = append(ref, time.Since(t0).Seconds())
			}
			ratio := func(num, den []float64, scale float64) float64 {
				r := make([]float64, len(num))
				for i := range num {
					r[i] = scale * num[i] / den[i]
				}
				return median(r)
			}
			all := make([]float64, len(ours))
			for i := range ours {
				all[i] = ours[i] + post[i]
			}
			b.ReportMetric(audioSec/median(ours), "ours-x-realtime")
			b.ReportMetric(audioSec/median(ref), "oggdec-x-realtime")
			b.ReportMetric(audioSec/median(bare), "lib-x-realtime")
			b.ReportMetric(ratio(bare, ref, 1), "lib/oggdec-time")
			b.ReportMetric(ratio(ours, ref, 1), "ours/oggdec-time")
			b.ReportMetric(ratio(post, ours, 100), "post-%-of-decode")
			b.ReportMetric(ratio(all, ref, 1), "all/oggdec-time")
		})
	}
}

// median of v (sorted in place).
func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// playAllocs plays b once through a player into a null sink and returns
// the heap allocations (count and bytes) during playback.
func playAllocs(tb testing.TB, b []byte) (allocs, bytes uint64) {
	p, err := NewPlayer(Config{Sink: audio.NewNullSink(), Dither: true, Volume: gain.Volume{Curve: gain.CurveLog}, InitialVolume: 40000})
	if err != nil {
		tb.Fatal(err)
	}
	defer p.Close()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	p.Load(plainTrack(tb, "t", b), true, 0)
	for e := range p.Events() {
		if e.Type == EndOfQueue {
			break
		}
		if e.Type == TrackError || e.Type == OutputError {
			tb.Fatal(e.Err)
		}
	}
	runtime.ReadMemStats(&m1)
	// The metrics counters (stats.go) ran during the measurement.
	if st := p.Stats(); st.DecodedAudio == 0 || st.DecodeTime == 0 {
		tb.Fatalf("the player's counters did not run: %+v", st)
	}
	return m1.Mallocs - m0.Mallocs, m1.TotalAlloc - m0.TotalAlloc
}

func decodeAllocs(tb testing.TB, b []byte) (allocs, bytes uint64) {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	decodeOnly(tb, b, nil)
	runtime.ReadMemStats(&m1)
	return m1.Mallocs - m0.Mallocs, m1.TotalAlloc - m0.TotalAlloc
}

// BenchmarkAudioPlaybackAllocs reports heap allocations per second of
// audio for steady playback through the whole player, for the decoder
// alone, and the difference: what our own stages allocate.
func BenchmarkAudioPlaybackAllocs(b *testing.B) {
	spec := audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 160, Repeat: 10}
	data := audiotest.Read(b, audiotest.Ogg(b, spec))
	frames, rate, _, _ := decodeOnly(b, data, nil)
	sec := float64(frames) / float64(rate)
	var pa, pb, da, db uint64
	for i := 0; i < b.N; i++ {
		a, by := playAllocs(b, data)
		pa, pb = pa+a, pb+by
		a, by = decodeAllocs(b, data)
		da, db = da+a, db+by
	}
	n := float64(b.N) * sec
	b.ReportMetric(float64(pa)/n, "player-allocs/audio-s")
	b.ReportMetric(float64(pb)/n/1024, "player-KB/audio-s")
	b.ReportMetric(float64(da)/n, "decoder-allocs/audio-s")
	b.ReportMetric((float64(pa)-float64(da))/n, "ours-allocs/audio-s")
}

// BenchmarkAudio100Tracks plays 100 tracks back to back and reports how the
// live heap grows per track between track 10 and track 100 (flat: ~0).
func BenchmarkAudio100Tracks(b *testing.B) {
	var files [][]byte
	for v := 0; v < 3; v++ {
		files = append(files, audiotest.Read(b, audiotest.Ogg(b, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96, Variant: v})))
	}
	const tracks = 100
	var growth float64
	for i := 0; i < b.N; i++ {
		p, err := NewPlayer(Config{Sink: audio.NewNullSink(), Volume: gain.Volume{Curve: gain.CurveFixed}})
		if err != nil {
			b.Fatal(err)
		}
		track := func(k int) Track { return plainTrack(b, "t", files[k%3]) }
		p.Load(track(0), true, 0)
		decoding, ended := 0, 0
		var h10 uint64
		for e := range p.Events() {
			switch e.Type {
			case TrackDecoding:
				if decoding++; decoding < tracks {
					p.Enqueue(track(decoding))
				}
			case TrackEnded:
				ended++
				if ended == 10 || ended == tracks {
					var m runtime.MemStats
					runtime.GC()
					runtime.ReadMemStats(&m)
					if ended == 10 {
						h10 = m.HeapAlloc
					} else {
						growth += (float64(m.HeapAlloc) - float64(h10)) / 90
					}
				}
			case TrackError:
				b.Fatal(e.Err)
			}
			if ended == tracks {
				break
			}
		}
		p.Close()
	}
	b.ReportMetric(growth/float64(b.N)/1024, "heap-KB-growth/track")
}

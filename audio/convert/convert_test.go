package convert

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/speakerbox/speakerbox/audio"
)

func conv(t *testing.T, src []float32, srcCh int, f audio.Format, dither bool) []byte {
	t.Helper()
	c, err := New(srcCh, f, dither)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, c.OutBytes(len(src)))
	if n := c.Convert(out, src); n != len(out) {
		t.Fatalf("wrote %d of %d bytes", n, len(out))
	}
	return out
}

func TestFormats(t *testing.T) {
	src := []float32{0, 1, -1, 0.5, 2, -3}
	st := func(s audio.SampleFormat) audio.Format { return audio.Format{Rate: 44100, Channels: 2, Sample: s} }

	b := conv(t, src, 2, st(audio.S16LE), false)
	want16 := []int16{0, 32767, -32767, 16384, 32767, -32767}
	for i, w := range want16 {
		if g := int16(binary.LittleEndian.Uint16(b[2*i:])); g != w {
			t.Errorf("S16 %d: %d want %d", i, g, w)
		}
	}
	b = conv(t, src, 2, st(audio.S24LE), false)
	want24 := []int32{0, 8388607, -8388607, 4194304, 8388607, -8388607}
	for i, w := range want24 {
		if g := int32(binary.LittleEndian.Uint32(b[4*i:])); g != w {
			t.Errorf("S24 %d: %d want %d", i, g, w)
		}
	}
	b = conv(t, src, 2, st(audio.S24_3LE), false)
	if len(b) != 18 {
		t.Fatalf("S24_3LE: %d bytes", len(b))
	}
	for i, w := range want24 {
		g := int32(uint32(b[3*i])|uint32(b[3*i+1])<<8|uint32(b[3*i+2])<<16) << 8 >> 8
		if g != w {
			t.Errorf("S24_3 %d: %d want %d", i, g, w)
		}
	}
	b = conv(t, src, 2, st(audio.S32LE), false)
	want32 := []int32{0, 2147483647, -2147483647, 1073741824, 2147483647, -2147483647}
	for i, w := range want32 {
		if g := int32(binary.LittleEndian.Uint32(b[4*i:])); g != w {
			t.Errorf("S32 %d: %d want %d", i, g, w)
		}
	}
	b = conv(t, src, 2, st(audio.FloatLE), false)
	for i, w := range []float32{0, 1, -1, 0.5, 1, -1} {
		if g := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])); g != w {
			t.Errorf("float %d: %v want %v", i, g, w)
		}
	}
}

func TestChannelMapping(t *testing.T) {
	f := func(ch int) audio.Format { return audio.Format{Rate: 48000, Channels: ch, Sample: audio.S16LE} }
	s16 := func(b []byte) []int16 {
		o := make([]int16, len(b)/2)
		for i := range o {
			o[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return o
	}
	if g := s16(conv(t, []float32{0.5, -0.25}, 1, f(2), false)); len(g) != 4 || g[0] != g[1] || g[2] != g[3] || g[0] != 16384 || g[2] != -8192 {
		t.Errorf("mono to stereo: %v", g)
	}
	if g := s16(conv(t, []float32{0.5, -0.5, 0.25, 0.75}, 2, f(1), false)); len(g) != 2 || g[0] != 0 || g[1] != 16384 {
		t.Errorf("stereo to mono: %v", g)
	}
	if g := s16(conv(t, []float32{0.5, -0.5}, 2, f(4), false)); len(g) != 4 || g[0] != 16384 || g[1] != -16383 || g[2] != 0 || g[3] != 0 {
		t.Errorf("stereo to 4 channels: %v", g)
	}
	if _, err := New(3, f(2), false); err == nil {
		t.Error("3 source channels accepted")
	}
}

// TPDF dither: zero mean, at most one LSB from the undithered value, and it
// turns a constant signal between two codes into a mix of both (which is
// what removes the truncation distortion).
func TestDither(t *testing.T) {
	n := 100000
	src := make([]float32, n)
	for i := range src {
		src[i] = 100.3 / 32767
	}
	b := conv(t, src, 1, audio.Format{Rate: 44100, Channels: 1, Sample: audio.S16LE}, true)
	sum := 0.0
	seen := map[int16]int{}
	for i := 0; i < n; i++ {
		v := int16(binary.LittleEndian.Uint16(b[2*i:]))
		if v < 99 || v > 102 {
			t.Fatalf("dithered value %d too far from 100.3", v)
		}
		seen[v]++
		sum += float64(v)
	}
	if mean := sum / float64(n); math.Abs(mean-100.3) > 0.02 {
		t.Errorf("mean %.4f, want 100.3", mean)
	}
	if len(seen) < 2 {
		t.Errorf("dither produced only %v", seen)
	}
	// Not applied above 16 bits.
	c, _ := New(1, audio.Format{Rate: 44100, Channels: 1, Sample: audio.S24LE}, true)
	if c.dither {
		t.Error("dither on for 24-bit output")
	}
}

func TestConvertGain(t *testing.T) {
	c, _ := New(1, audio.Format{Rate: 44100, Channels: 1, Sample: audio.S16LE}, false)
	out := make([]byte, 4)
	c.ConvertGain(out, []float32{0.5, -1}, 0.5)
	if a, b := int16(binary.LittleEndian.Uint16(out)), int16(binary.LittleEndian.Uint16(out[2:])); a != 8192 || b != -16383 {
		t.Fatalf("gain 0.5: %d %d", a, b)
	}
}

func TestAllocs(t *testing.T) {
	c, _ := New(2, audio.Format{Rate: 44100, Channels: 2, Sample: audio.S16LE}, true)
	src := make([]float32, 882)
	dst := make([]byte, c.OutBytes(len(src)))
	if a := testing.AllocsPerRun(100, func() { c.Convert(dst, src) }); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

func BenchmarkConvertS16Dither(b *testing.B) {
	c, _ := New(2, audio.Format{Rate: 44100, Channels: 2, Sample: audio.S16LE}, true)
	src := make([]float32, 882)
	dst := make([]byte, c.OutBytes(len(src)))
	b.SetBytes(int64(len(src) * 4))
	for b.Loop() {
		c.Convert(dst, src)
	}
}

func BenchmarkConvertS16(b *testing.B) {
	c, _ := New(2, audio.Format{Rate: 44100, Channels: 2, Sample: audio.S16LE}, false)
	src := make([]float32, 882)
	dst := make([]byte, c.OutBytes(len(src)))
	b.SetBytes(int64(len(src) * 4))
	for b.Loop() {
		c.Convert(dst, src)
	}
}

// refDither is the dithered S16 conversion written one sample at a time
// with the noise index wrapped per sample and the two ends clamped as
// floats: the definition the unrolled s16Dither must match bit for bit.
func refDither(c *Converter, dst []byte, src []float32, g float32) {
	c.rng ^= c.rng << 13
	c.rng ^= c.rng >> 17
	c.rng ^= c.rng << 5
	k := int(c.rng)
	scale := g * 32767
	for i, x := range src {
		v := x*scale + c.noise[(k+i)&(noiseLen-1)] // the table holds 32768.5 + noise
		if v < 1 {
			v = 1
		} else if v > 65535 {
			v = 65535
		}
		binary.LittleEndian.PutUint16(dst[2*i:], uint16(int32(v)-32768))
	}
}

// The dithered conversion gives exactly the per-sample definition's output
// for any length (runs that wrap around the noise table, tails shorter than
// a step), gains, and samples beyond full scale.
func TestDitherMatchesDefinition(t *testing.T) {
	f := audio.Format{Rate: 44100, Channels: 2, Sample: audio.S16LE}
	fast, _ := New(2, f, true)
	ref, _ := New(2, f, true)
	src := make([]float32, 3*noiseLen+6)
	r := uint32(1)
	for i := range src {
		r = r*1664525 + 1013904223
		src[i] = (float32(r>>8)/(1<<24) - 0.5) * 2.4 // -1.2..1.2: some clip
	}
	src[0], src[1], src[2], src[3] = 1, -1, 32767.0/32767, -0.5/32767
	for _, g := range []float32{1, 0.5, 0.01, 3} {
		for _, n := range []int{0, 2, 4, 6, 882, 1764, noiseLen, noiseLen + 2, len(src)} {
			a := make([]byte, 2*n)
			b := make([]byte, 2*n)
			if got := fast.ConvertGain(a, src[:n], g); got != 2*n {
				t.Fatalf("wrote %d bytes, want %d", got, 2*n)
			}
			refDither(ref, b, src[:n], g)
			for i := 0; i < n; i++ {
				if a[2*i] != b[2*i] || a[2*i+1] != b[2*i+1] {
					t.Fatalf("gain %v, %d samples: sample %d is %d, want %d", g, n, i,
						int16(binary.LittleEndian.Uint16(a[2*i:])), int16(binary.LittleEndian.Uint16(b[2*i:])))
				}
			}
		}
	}
}

// Values no decoder should produce still give sane codes: infinities and
// huge values clip, NaN is silence (not a full-scale click).
func TestDitherNonFinite(t *testing.T) {
	inf := float32(math.Inf(1))
	src := []float32{inf, -inf, float32(math.NaN()), 1e30, -1e30, 70000, -70000, 0, 0}
	want := []int16{32767, -32767, 0, 32767, -32767, 32767, -32767}
	for _, dither := range []bool{true, false} {
		c, _ := New(1, audio.Format{Rate: 44100, Channels: 1, Sample: audio.S16LE}, dither)
		nonFinite(t, c, src, want)
	}
}

func nonFinite(t *testing.T, c *Converter, src []float32, want []int16) {
	t.Helper()
	for _, g := range []float32{1, 0.25} {
		out := make([]byte, 2*len(src))
		c.ConvertGain(out, src, g)
		for i, w := range want {
			if v := int16(binary.LittleEndian.Uint16(out[2*i:])); v != w {
				t.Errorf("gain %v: %v gave %d, want %d", g, src[i], v, w)
			}
		}
	}
}

// Without dither, the unrolled S16 conversion is quantise, sample for
// sample, for any length, gain and level.
func TestPlainS16MatchesQuantise(t *testing.T) {
	c, _ := New(2, audio.Format{Rate: 44100, Channels: 2, Sample: audio.S16LE}, false)
	src := make([]float32, 2000)
	r := uint32(7)
	for i := range src {
		r = r*1664525 + 1013904223
		src[i] = (float32(r>>8)/(1<<24) - 0.5) * 2.4
	}
	// Values right at rounding and clipping edges.
	src[0], src[1], src[2], src[3] = 0.5/32767, -0.5/32767, 1, -1
	src[4], src[5] = 32766.5/32767, -32767.5/32767
	for _, g := range []float32{1, 0.5, 0.3, 2} {
		for _, n := range []int{0, 2, 6, 8, 10, 882, len(src)} {
			out := make([]byte, 2*n)
			c.ConvertGain(out, src[:n], g)
			for i := 0; i < n; i++ {
				want := int16(quantise(float64(src[i])*float64(g), 32767))
				if got := int16(binary.LittleEndian.Uint16(out[2*i:])); got != want {
					t.Fatalf("gain %v, %d samples: sample %d (%v) is %d, want %d", g, n, i, src[i], got, want)
				}
			}
		}
	}
}

// The dither table is TPDF noise of -1..1 LSB around the rounding offset
// 32768.5: zero mean, triangular (variance 1/6 LSB², so no value is
// outside -1..1 and about a quarter are beyond ±0.5), from a grid fine
// enough to be continuous for this use.
func TestDitherNoise(t *testing.T) {
	c, _ := New(2, audio.Format{Rate: 44100, Channels: 2, Sample: audio.S16LE}, true)
	var sum, sq float64
	beyondHalf := 0
	distinct := map[float32]bool{}
	for _, v := range c.noise {
		n := float64(v) - 32768.5
		if n <= -1 || n >= 1 {
			t.Fatalf("noise %v LSB outside -1..1", n)
		}
		if math.Abs(n) > 0.5 {
			beyondHalf++
		}
		sum += n
		sq += n * n
		distinct[v] = true
	}
	mean, variance := sum/noiseLen, sq/noiseLen-(sum/noiseLen)*(sum/noiseLen)
	if math.Abs(mean) > 0.02 {
		t.Errorf("mean %v LSB", mean)
	}
	if math.Abs(variance-1.0/6) > 0.01 {
		t.Errorf("variance %v LSB², want 1/6 (triangular)", variance)
	}
	if f := float64(beyondHalf) / noiseLen; f < 0.2 || f > 0.3 {
		t.Errorf("%.2f of the values beyond ±0.5 LSB, want 0.25 (triangular)", f)
	}
	if len(distinct) < 300 {
		t.Errorf("only %d distinct noise values", len(distinct))
	}
}

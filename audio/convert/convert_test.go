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

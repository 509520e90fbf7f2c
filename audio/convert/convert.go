// Package convert turns float samples into the sink's sample format and
// channel layout, with TPDF dither when reducing to 16 bits.
package convert

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/speakerbox/speakerbox/audio"
)

// Converter converts interleaved float32 samples (-1..1) with srcChannels
// channels into dst's layout. It keeps only the dither generator's state
// and allocates nothing after New.
type Converter struct {
	srcCh  int
	dst    audio.Format
	dither bool
	rng    uint32
	noise  *[noiseLen]float32 // TPDF dither values in -1..1 LSB
}

const noiseLen = 4096

// New makes a converter. Mono can go to any channel count (copied to every
// channel); stereo to mono is averaged; stereo to more channels fills the
// first two and leaves the rest silent.
func New(srcChannels int, dst audio.Format, dither bool) (*Converter, error) {
	if srcChannels != 1 && srcChannels != 2 {
		return nil, fmt.Errorf("convert: %d source channels (want 1 or 2)", srcChannels)
	}
	if dst.Channels < 1 || dst.Sample.BytesPerSample() == 0 {
		return nil, fmt.Errorf("convert: unsupported output format %s", dst)
	}
	c := &Converter{srcCh: srcChannels, dst: dst, dither: dither && dst.Sample == audio.S16LE, rng: 0x9e3779b9}
	if c.dither {
		c.noise = new([noiseLen]float32)
		// Triangular noise: the difference of two uniform values, which
		// decorrelates the 16-bit rounding error from the signal.
		r := uint32(0x2545f491)
		for i := range c.noise {
			r ^= r << 13
			r ^= r >> 17
			r ^= r << 5
			c.noise[i] = float32(int32(r&0xffff)-int32(r>>16)) / 65536
		}
	}
	return c, nil
}

// Format is the output format.
func (c *Converter) Format() audio.Format { return c.dst }

// OutBytes is the number of bytes Convert writes for n source samples.
func (c *Converter) OutBytes(n int) int { return n / c.srcCh * c.dst.FrameBytes() }

// Convert writes src (whole frames) into dst, which must hold
// OutBytes(len(src)) bytes, and returns the number of bytes written.
func (c *Converter) Convert(dst []byte, src []float32) int { return c.ConvertGain(dst, src, 1) }

// ConvertGain is Convert with every sample multiplied by g on the way: the
// steady-state gain costs no pass of its own.
func (c *Converter) ConvertGain(dst []byte, src []float32, g float32) int {
	frames := len(src) / c.srcCh
	out := frames * c.dst.FrameBytes()
	dst = dst[:out]
	if c.srcCh == c.dst.Channels {
		c.samples(dst, src, g)
		return out
	}
	// Channel mapping is rare (most DACs take stereo); do it one output
	// sample at a time.
	bps := c.dst.Sample.BytesPerSample()
	var one [1]float32
	o := 0
	for f := 0; f < frames; f++ {
		in := src[f*c.srcCh : (f+1)*c.srcCh]
		for k := 0; k < c.dst.Channels; k++ {
			switch {
			case c.srcCh == 1:
				one[0] = in[0]
			case c.dst.Channels == 1:
				one[0] = (in[0] + in[1]) / 2
			case k < 2:
				one[0] = in[k]
			default:
				one[0] = 0
			}
			c.samples(dst[o:o+bps], one[:], g)
			o += bps
		}
	}
	return out
}

// quantise scales x (nominally -1..1) by full, rounds half up and clips to
// -full..full. Rounding is done by truncating a value made positive, which
// is much cheaper than math.Round.
func quantise(x, full float64) int64 {
	v := x*full + (full + 1.5)
	// Comparisons, not the min and max builtins: those must order NaN and
	// -0 and compile to much slower code.
	if v < 1 {
		v = 1
	} else if v > 2*full+1 {
		v = 2*full + 1
	}
	return int64(v) - int64(full+1)
}

func (c *Converter) samples(dst []byte, src []float32, g float32) {
	gf := float64(g)
	switch c.dst.Sample {
	case audio.S16LE:
		dst = dst[:2*len(src)]
		if !c.dither {
			for i, x := range src {
				binary.LittleEndian.PutUint16(dst[2*i:], uint16(quantise(float64(x)*gf, 32767)))
			}
			return
		}
		// Dither comes from a table of TPDF noise, read from a random
		// offset per call: a random number generator per sample would cost
		// more than the conversion itself. 20 ms windows taken at random
		// from 4096 noise values never form an audible pattern at -96 dB.
		c.rng ^= c.rng << 13
		c.rng ^= c.rng >> 17
		c.rng ^= c.rng << 5
		k := int(c.rng)
		tab := c.noise
		// float32 is exact enough here (1/128 LSB at full scale) and the
		// dither hides the rest.
		scale := g * 32767
		for i, x := range src {
			v := x*scale + tab[(k+i)&(noiseLen-1)] + 32768.5
			if v < 1 {
				v = 1
			} else if v > 65535 {
				v = 65535
			}
			binary.LittleEndian.PutUint16(dst[2*i:], uint16(int32(v)-32768))
		}
	case audio.S24LE:
		dst = dst[:4*len(src)]
		for i, x := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], uint32(int32(quantise(float64(x)*gf, 8388607))))
		}
	case audio.S24_3LE:
		dst = dst[:3*len(src)]
		for i, x := range src {
			v := quantise(float64(x)*gf, 8388607)
			dst[3*i] = byte(v)
			dst[3*i+1] = byte(v >> 8)
			dst[3*i+2] = byte(v >> 16)
		}
	case audio.S32LE:
		dst = dst[:4*len(src)]
		for i, x := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], uint32(int32(quantise(float64(x)*gf, 2147483647))))
		}
	case audio.FloatLE:
		dst = dst[:4*len(src)]
		for i, x := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(max(-1, min(1, x*g))))
		}
	}
}

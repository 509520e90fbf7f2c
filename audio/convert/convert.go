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
}

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
	return &Converter{srcCh: srcChannels, dst: dst, dither: dither && dst.Sample == audio.S16LE, rng: 0x9e3779b9}, nil
}

// Format is the output format.
func (c *Converter) Format() audio.Format { return c.dst }

// OutBytes is the number of bytes Convert writes for n source samples.
func (c *Converter) OutBytes(n int) int { return n / c.srcCh * c.dst.FrameBytes() }

// Convert writes src (whole frames) into dst, which must hold
// OutBytes(len(src)) bytes, and returns the number of bytes written.
func (c *Converter) Convert(dst []byte, src []float32) int {
	frames := len(src) / c.srcCh
	out := frames * c.dst.FrameBytes()
	dst = dst[:out]
	if c.srcCh == c.dst.Channels {
		c.samples(dst, src)
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
			c.samples(dst[o:o+bps], one[:])
			o += bps
		}
	}
	return out
}

// tpdf returns triangular noise in -1..1 LSB: the sum of two uniform
// values, which decorrelates the 16-bit rounding error from the signal.
func (c *Converter) tpdf() float32 {
	x := c.rng
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	c.rng = x
	// Two 16-bit uniform values from one 32-bit draw.
	a := float32(x&0xffff) / 65536
	b := float32(x>>16) / 65536
	return a - b
}

func clamp(x float32) float32 {
	if x > 1 {
		return 1
	}
	if x < -1 {
		return -1
	}
	return x
}

func (c *Converter) samples(dst []byte, src []float32) {
	switch c.dst.Sample {
	case audio.S16LE:
		for i, x := range src {
			// float64: a float32 product can round across the .5 that
			// decides the 16-bit code.
			v := float64(clamp(x)) * 32767
			if c.dither {
				v += float64(c.tpdf())
			}
			v = max(-32768, min(32767, math.Round(v)))
			binary.LittleEndian.PutUint16(dst[2*i:], uint16(int16(v)))
		}
	case audio.S24LE:
		for i, x := range src {
			v := int32(math.Round(float64(clamp(x)) * 8388607))
			binary.LittleEndian.PutUint32(dst[4*i:], uint32(v))
		}
	case audio.S24_3LE:
		for i, x := range src {
			v := int32(math.Round(float64(clamp(x)) * 8388607))
			dst[3*i] = byte(v)
			dst[3*i+1] = byte(v >> 8)
			dst[3*i+2] = byte(v >> 16)
		}
	case audio.S32LE:
		for i, x := range src {
			v := int32(math.Round(float64(clamp(x)) * 2147483647))
			binary.LittleEndian.PutUint32(dst[4*i:], uint32(v))
		}
	case audio.FloatLE:
		for i, x := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(clamp(x)))
		}
	}
}

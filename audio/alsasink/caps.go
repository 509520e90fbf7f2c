package alsasink

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gen2brain/alsa"

	"github.com/speakerbox/speakerbox/audio"
)

// Range is an inclusive interval the hardware accepts.
type Range struct{ Min, Max int }

func (r Range) contains(v int) bool { return v >= r.Min && v <= r.Max }

func (r Range) String() string {
	if r.Min == r.Max {
		return fmt.Sprint(r.Min)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// Caps is what a playback PCM accepts, as the kernel refines an open
// parameter space (the equivalent of aplay --dump-hw-params).
type Caps struct {
	Formats     []alsa.PcmFormat // every format the device takes, ours or not
	Rates       Range            // Hz
	Channels    Range
	PeriodSize  Range // frames
	Periods     Range
	BufferSize  Range // frames
	Interleaved bool  // RW_INTERLEAVED access is offered
}

// FormatNames are the ALSA names of the formats ("S16_LE").
func (c Caps) FormatNames() []string {
	names := make([]string, 0, len(c.Formats))
	for _, f := range c.Formats {
		names = append(names, formatName(f))
	}
	return names
}

// String lists the capabilities in one line for error messages and logs.
func (c Caps) String() string {
	names := c.FormatNames()
	return fmt.Sprintf("formats %s; rates %s Hz; channels %s; period %s frames; periods %s; buffer %s frames",
		strings.Join(names, ", "), c.Rates, c.Channels, c.PeriodSize, c.Periods, c.BufferSize)
}

// Takes reports whether the device accepts f (ignoring buffer sizes).
func (c Caps) Takes(f audio.Format) bool {
	return c.hasFormat(toPcmFormat[f.Sample]) && c.Rates.contains(f.Rate) && c.Channels.contains(f.Channels)
}

func (c Caps) hasFormat(f alsa.PcmFormat) bool {
	for _, g := range c.Formats {
		if g == f {
			return true
		}
	}
	return false
}

func formatName(f alsa.PcmFormat) string {
	if s, ok := alsa.PcmParamFormatNames[f]; ok {
		return s
	}
	return fmt.Sprintf("format#%d", int(f))
}

var toPcmFormat = map[audio.SampleFormat]alsa.PcmFormat{
	audio.S16LE:   alsa.SNDRV_PCM_FORMAT_S16_LE,
	audio.S24LE:   alsa.SNDRV_PCM_FORMAT_S24_LE,
	audio.S24_3LE: alsa.SNDRV_PCM_FORMAT_S24_3LE,
	audio.S32LE:   alsa.SNDRV_PCM_FORMAT_S32_LE,
	audio.FloatLE: alsa.SNDRV_PCM_FORMAT_FLOAT_LE,
}

// bestFirst is the order in which we pick a sample format when the caller's
// is not available: the most resolution first. Float is rare on real
// hardware and, when offered, no better than 24 bits, so it ranks below the
// integer 24-bit formats.
var bestFirst = []audio.SampleFormat{audio.S32LE, audio.S24LE, audio.S24_3LE, audio.FloatLE, audio.S16LE}

// capsFromParams converts the library's refined hw_params.
func capsFromParams(pp *alsa.PcmParams) (Caps, error) {
	var c Caps
	mask, err := pp.Mask(alsa.SNDRV_PCM_HW_PARAM_FORMAT)
	if err != nil {
		return c, err
	}
	for f := range alsa.PcmParamFormatNames {
		if f >= 0 && mask.Test(uint(f)) {
			c.Formats = append(c.Formats, f)
		}
	}
	sort.Slice(c.Formats, func(i, j int) bool { return c.Formats[i] < c.Formats[j] })
	acc, err := pp.Mask(alsa.SNDRV_PCM_HW_PARAM_ACCESS)
	if err != nil {
		return c, err
	}
	c.Interleaved = acc.Test(alsa.SNDRV_PCM_ACCESS_RW_INTERLEAVED)
	for _, r := range []struct {
		p   alsa.PcmParam
		dst *Range
	}{
		{alsa.SNDRV_PCM_HW_PARAM_RATE, &c.Rates},
		{alsa.SNDRV_PCM_HW_PARAM_CHANNELS, &c.Channels},
		{alsa.SNDRV_PCM_HW_PARAM_PERIOD_SIZE, &c.PeriodSize},
		{alsa.SNDRV_PCM_HW_PARAM_PERIODS, &c.Periods},
		{alsa.SNDRV_PCM_HW_PARAM_BUFFER_SIZE, &c.BufferSize},
	} {
		lo, err := pp.Min(r.p)
		if err != nil {
			return c, err
		}
		hi, err := pp.Max(r.p)
		if err != nil {
			return c, err
		}
		*r.dst = Range{Min: clampInt(lo), Max: clampInt(hi)}
	}
	return c, nil
}

// clampInt keeps "unbounded" (0xffffffff) from turning negative on 32-bit.
func clampInt(v uint32) int {
	if v > 1<<30 {
		return 1 << 30
	}
	return int(v)
}

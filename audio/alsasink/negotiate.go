package alsasink

import (
	"fmt"
	"time"

	"github.com/gen2brain/alsa"

	"github.com/speakerbox/speakerbox/audio"
)

// hwConfig is one concrete parameter set to ask the driver for.
type hwConfig struct {
	Sample       audio.SampleFormat
	Rate         int
	Channels     int
	PeriodFrames int
	Periods      int
}

func (h hwConfig) format() audio.Format {
	return audio.Format{Rate: h.Rate, Channels: h.Channels, Sample: h.Sample}
}

func (h hwConfig) bufferFrames() int { return h.PeriodFrames * h.Periods }

func (h hwConfig) String() string {
	return fmt.Sprintf("%s, period %d frames x %d", h.format(), h.PeriodFrames, h.Periods)
}

// DefaultBuffer is the buffer time when none is configured: long enough to
// ride out a busy moment on a Pi Zero's single core, short enough that pause
// and volume feel immediate (pause drops the buffer anyway).
const DefaultBuffer = 500 * time.Millisecond

// autoPeriod is the period when none is configured. 10-20 ms keeps wake-ups
// cheap while leaving several periods of margin in the buffer.
const autoPeriod = 20 * time.Millisecond

// minPeriods is the fewest periods we accept in the buffer: with fewer the
// device has no slack between the period it plays and the one we refill.
const minPeriods = 2

// OfferError says why a device cannot play what we produce, and what the
// hardware offers instead.
type OfferError struct {
	Device string
	Want   audio.Format
	Reason string
	Caps   Caps
}

func (e *OfferError) Error() string {
	return fmt.Sprintf("ALSA device %q cannot play %s: %s; the hardware offers %s", e.Device, e.Want, e.Reason, e.Caps)
}

// negotiate picks the hardware parameters for want from what the device
// offers. forced, when set, is the only sample format allowed
// (audio.format in the configuration); otherwise the caller's sample format
// is preferred and then the best the device takes. The rate is never changed:
// we do not resample. A mono-only device gets one channel (the converter
// downmixes); more channels than the source has are refused.
func negotiate(device string, want audio.Format, forced audio.SampleFormat, buffer, period time.Duration, c Caps) (hwConfig, error) {
	fail := func(format string, args ...any) (hwConfig, error) {
		return hwConfig{}, &OfferError{Device: device, Want: want, Reason: fmt.Sprintf(format, args...), Caps: c}
	}
	if !c.Interleaved {
		return fail("it does not offer interleaved read/write access")
	}
	if !c.Rates.contains(want.Rate) {
		return fail("it does not take %d Hz (speakerbox does not resample)", want.Rate)
	}
	h := hwConfig{Rate: want.Rate}

	switch {
	case forced != 0:
		if !c.hasFormat(toPcmFormat[forced]) {
			return fail("it does not take the configured format %s", forced)
		}
		h.Sample = forced
	case c.hasFormat(toPcmFormat[want.Sample]):
		h.Sample = want.Sample
	default:
		for _, f := range bestFirst {
			if c.hasFormat(toPcmFormat[f]) {
				h.Sample = f
				break
			}
		}
		if h.Sample == 0 {
			return fail("it takes none of the formats speakerbox produces (S16_LE, S24_LE, S24_3LE, S32_LE, FLOAT_LE)")
		}
	}

	switch {
	case c.Channels.contains(want.Channels):
		h.Channels = want.Channels
	case want.Channels == 2 && c.Channels.contains(1):
		h.Channels = 1
	case want.Channels == 1 && c.Channels.contains(2):
		h.Channels = 2
	default:
		return fail("it does not take %d channels", want.Channels)
	}

	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	if period <= 0 {
		period = autoPeriod
		if buffer/period < 4 {
			period = buffer / 4
		}
	}
	bufferFrames := framesIn(buffer, h.Rate)
	h.PeriodFrames = clampRange(framesIn(period, h.Rate), c.PeriodSize)
	h.Periods = max(minPeriods, (bufferFrames+h.PeriodFrames/2)/h.PeriodFrames)
	h.Periods = clampRange(h.Periods, c.Periods)
	if h.Periods*h.PeriodFrames < bufferFrames && h.Periods == c.Periods.Max {
		// Too many periods for the device: make them longer instead.
		h.PeriodFrames = clampRange(bufferFrames/h.Periods, c.PeriodSize)
	}
	if c.BufferSize.Max > 0 && h.bufferFrames() > c.BufferSize.Max {
		h.Periods = clampRange(max(minPeriods, c.BufferSize.Max/h.PeriodFrames), c.Periods)
		if h.bufferFrames() > c.BufferSize.Max {
			h.PeriodFrames = clampRange(c.BufferSize.Max/h.Periods, c.PeriodSize)
		}
	}
	if h.PeriodFrames <= 0 || h.Periods <= 0 {
		return fail("no period size fits a %v buffer", buffer)
	}
	return h, nil
}

func framesIn(d time.Duration, rate int) int {
	return int(int64(d) * int64(rate) / int64(time.Second))
}

func clampRange(v int, r Range) int {
	if r.Max > 0 && v > r.Max {
		v = r.Max
	}
	if v < r.Min {
		v = r.Min
	}
	return v
}

// pcmFormat is the library's name for one of our sample formats.
func pcmFormat(s audio.SampleFormat) alsa.PcmFormat { return toPcmFormat[s] }

package alsasink

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gen2brain/alsa"

	"github.com/speakerbox/speakerbox/audio"
)

func TestNegotiateChoices(t *testing.T) {
	onlyS16 := typicalDAC()
	onlyS16.Formats = []alsa.PcmFormat{alsa.SNDRV_PCM_FORMAT_S16_LE}
	packed := typicalDAC()
	packed.Formats = []alsa.PcmFormat{alsa.SNDRV_PCM_FORMAT_S16_LE, alsa.SNDRV_PCM_FORMAT_S24_3LE}
	mono := typicalDAC()
	mono.Channels = Range{1, 1}
	fewPeriods := typicalDAC()
	fewPeriods.Periods = Range{2, 8}
	smallBuffer := typicalDAC()
	smallBuffer.BufferSize = Range{64, 8192}
	bigPeriodMin := typicalDAC()
	bigPeriodMin.PeriodSize = Range{1024, 8192}

	cases := []struct {
		name           string
		want           audio.Format
		forced         audio.SampleFormat
		buffer, period time.Duration
		caps           Caps
		sample         audio.SampleFormat
		channels       int
		periodFrames   int
		periods        int
	}{
		{"caller's format is kept", cd, 0, 500 * time.Millisecond, 0, typicalDAC(), audio.S16LE, 2, 882, 25},
		{"caller's float falls back to the deepest integer format", audio.Format{Rate: 44100, Channels: 2, Sample: audio.FloatLE}, 0, 500 * time.Millisecond, 0, typicalDAC(), audio.S32LE, 2, 882, 25},
		{"packed 24-bit beats 16-bit", audio.Format{Rate: 44100, Channels: 2, Sample: audio.S32LE}, 0, 500 * time.Millisecond, 0, packed, audio.S24_3LE, 2, 882, 25},
		{"configured format wins over the caller's", cd, audio.S24LE, 500 * time.Millisecond, 0, typicalDAC(), audio.S24LE, 2, 882, 25},
		{"16-bit only device", audio.Format{Rate: 44100, Channels: 2, Sample: audio.S32LE}, 0, 500 * time.Millisecond, 0, onlyS16, audio.S16LE, 2, 882, 25},
		{"mono device gets one channel", cd, 0, 500 * time.Millisecond, 0, mono, audio.S16LE, 1, 882, 25},
		{"one second buffer", cd, 0, time.Second, 0, typicalDAC(), audio.S16LE, 2, 882, 50},
		{"explicit 10 ms period", cd, 0, 500 * time.Millisecond, 10 * time.Millisecond, typicalDAC(), audio.S16LE, 2, 441, 50},
		{"short buffer keeps four periods", cd, 0, 60 * time.Millisecond, 0, typicalDAC(), audio.S16LE, 2, 661, 4},
		{"period count capped: longer periods", cd, 0, 500 * time.Millisecond, 0, fewPeriods, audio.S16LE, 2, 2756, 8},
		{"buffer size capped", cd, 0, 500 * time.Millisecond, 0, smallBuffer, audio.S16LE, 2, 882, 9},
		{"period minimum raised", cd, 0, 500 * time.Millisecond, 0, bigPeriodMin, audio.S16LE, 2, 1024, 22},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := negotiate("hw:0,0", c.want, c.forced, c.buffer, c.period, c.caps)
			if err != nil {
				t.Fatal(err)
			}
			if h.Rate != c.want.Rate {
				t.Errorf("rate %d, want %d", h.Rate, c.want.Rate)
			}
			if h.Sample != c.sample || h.Channels != c.channels || h.PeriodFrames != c.periodFrames || h.Periods != c.periods {
				t.Errorf("got %s; want %s %d ch, period %d x %d", h, c.sample, c.channels, c.periodFrames, c.periods)
			}
			if c.caps.BufferSize.Max > 0 && h.bufferFrames() > c.caps.BufferSize.Max {
				t.Errorf("buffer %d frames exceeds the device maximum %d", h.bufferFrames(), c.caps.BufferSize.Max)
			}
		})
	}
}

func TestNegotiateRefusalListsWhatTheHardwareOffers(t *testing.T) {
	hdmi := Caps{
		Formats:     []alsa.PcmFormat{alsa.SNDRV_PCM_FORMAT_S16_LE, alsa.SNDRV_PCM_FORMAT_IEC958_SUBFRAME_LE},
		Rates:       Range{48000, 48000},
		Channels:    Range{2, 8},
		PeriodSize:  Range{64, 8192},
		Periods:     Range{2, 64},
		BufferSize:  Range{128, 65536},
		Interleaved: true,
	}
	bigEndian := typicalDAC()
	bigEndian.Formats = []alsa.PcmFormat{alsa.SNDRV_PCM_FORMAT_U8, alsa.SNDRV_PCM_FORMAT_S16_BE}
	surround := typicalDAC()
	surround.Channels = Range{6, 8}
	noRW := typicalDAC()
	noRW.Interleaved = false

	cases := []struct {
		name   string
		forced audio.SampleFormat
		caps   Caps
		want   []string
	}{
		{"rate", 0, hdmi, []string{`"hw:0,0" cannot play S16_LE 44100 Hz 2 ch`, "does not take 44100 Hz", "formats S16_LE, IEC958_SUBFRAME_LE", "rates 48000 Hz", "channels 2-8"}},
		{"formats", 0, bigEndian, []string{"takes none of the formats", "formats U8, S16_BE", "rates 8000-192000 Hz"}},
		{"forced format", audio.S24_3LE, typicalDAC(), []string{"configured format S24_3LE", "formats S16_LE, S24_LE, S32_LE"}},
		{"channels", 0, surround, []string{"does not take 2 channels", "channels 6-8"}},
		{"access", 0, noRW, []string{"interleaved"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := negotiate("hw:0,0", cd, c.forced, 0, 0, c.caps)
			var oe *OfferError
			if !errors.As(err, &oe) {
				t.Fatalf("err = %v, want an *OfferError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

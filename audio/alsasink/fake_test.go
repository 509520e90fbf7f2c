package alsasink

import (
	"bytes"
	"fmt"
	"log/slog"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/gen2brain/alsa"

	"github.com/speakerbox/speakerbox/audio"
)

// fakeBackend stands in for the kernel at the gen2brain/alsa boundary.
type fakeBackend struct {
	procCards []byte
	devCaps   Caps
	capsErr   error
	openErrs  []error                 // returned by successive opens, then nil
	grant     func(hwConfig) hwConfig // what the "driver" grants; nil = as asked
	asked     []hwConfig
	starts    []int
	pcm       *fakePCM
}

func (b *fakeBackend) cards() ([]byte, error) { return b.procCards, nil }

func (b *fakeBackend) caps(Address) (Caps, error) { return b.devCaps, b.capsErr }

func (b *fakeBackend) open(_ Address, h hwConfig, start int) (pcm, hwConfig, error) {
	b.asked = append(b.asked, h)
	b.starts = append(b.starts, start)
	if len(b.openErrs) > 0 {
		err := b.openErrs[0]
		b.openErrs = b.openErrs[1:]
		if err != nil {
			return nil, hwConfig{}, err
		}
	}
	got := h
	if b.grant != nil {
		got = b.grant(h)
	}
	b.pcm = &fakePCM{frameBytes: got.format().FrameBytes()}
	return b.pcm, got, nil
}

// fakePCM records what reaches the "device". Each Write call consumes one
// step of script; with no script left it takes everything.
type fakePCM struct {
	frameBytes int
	script     []writeStep
	played     bytes.Buffer
	calls      []string
	delay      int
	closed     bool
}

type writeStep struct {
	frames int // frames taken before err (-1 = all)
	err    error
}

func (p *fakePCM) Write(b []byte) (int, error) {
	p.calls = append(p.calls, "write")
	frames := len(b) / p.frameBytes
	if len(p.script) > 0 {
		st := p.script[0]
		p.script = p.script[1:]
		if st.frames >= 0 && st.frames < frames {
			frames = st.frames
		}
		p.played.Write(b[:frames*p.frameBytes])
		return frames, st.err
	}
	p.played.Write(b[:frames*p.frameBytes])
	return frames, nil
}

func (p *fakePCM) Prepare() error      { p.calls = append(p.calls, "prepare"); return nil }
func (p *fakePCM) Drop() error         { p.calls = append(p.calls, "drop"); return nil }
func (p *fakePCM) Drain() error        { p.calls = append(p.calls, "drain"); return nil }
func (p *fakePCM) Delay() (int, error) { return p.delay, nil }
func (p *fakePCM) Close() error        { p.closed = true; p.calls = append(p.calls, "close"); return nil }

const procCards = ` 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones
                      bcm2835 Headphones
 1 [Loopback       ]: Loopback - Loopback
                      Loopback 1
`

// typicalDAC is an I2S DAC HAT: 16/24/32-bit, 8-192 kHz, stereo.
func typicalDAC() Caps {
	return Caps{
		Formats:     []alsa.PcmFormat{alsa.SNDRV_PCM_FORMAT_S16_LE, alsa.SNDRV_PCM_FORMAT_S24_LE, alsa.SNDRV_PCM_FORMAT_S32_LE},
		Rates:       Range{8000, 192000},
		Channels:    Range{2, 2},
		PeriodSize:  Range{16, 65536},
		Periods:     Range{2, 255},
		BufferSize:  Range{32, 131072},
		Interleaved: true,
	}
}

var cd = audio.Format{Rate: 44100, Channels: 2, Sample: audio.S16LE}

func newTestSink(t *testing.T, opts Options, be *fakeBackend) (*Sink, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	opts.Log = slog.New(slog.NewTextHandler(&logs, nil))
	if be.procCards == nil {
		be.procCards = []byte(procCards)
	}
	s, err := newSink(opts, be, fstest.MapFS{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if vs, ok := s.(*VolumeSink); ok {
		return vs.Sink, &logs
	}
	return s.(*Sink), &logs
}

func frames(n, frameBytes int, seed byte) []byte {
	b := make([]byte, n*frameBytes)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func errnoWrap(e syscall.Errno) error {
	return fmt.Errorf("failed to open PCM device /dev/snd/pcmC0D0p: %w", e)
}

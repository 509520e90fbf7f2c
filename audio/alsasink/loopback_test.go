//go:build realkernel

package alsasink

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"math"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/gen2brain/alsa"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/alsasink/alsactl"
	"github.com/speakerbox/speakerbox/internal/testenv"
)

// TestLoopbackKernel drives the sink on a real kernel: it plays one second
// through hw:Loopback,0 (snd-aloop) while recording hw:Loopback,1 and
// checks that the capture holds exactly what was written, in several sample
// formats. It runs wherever a Loopback card exists (`modprobe snd-aloop`,
// or a QEMU guest: testdata/qemu-loopback.sh) and skips elsewhere.
func TestLoopbackKernel(t *testing.T) {
	cards, err := os.ReadFile("/proc/asound/cards")
	if err != nil || !bytes.Contains(cards, []byte("[Loopback")) {
		testenv.Missing(t, "no snd-aloop Loopback card on this kernel (modprobe snd-aloop pcm_substreams=1): real-kernel smoke test")
	}
	for _, sf := range []audio.SampleFormat{audio.S16LE, audio.S32LE, audio.S24_3LE} {
		t.Run(sf.String(), func(t *testing.T) { loopbackPlay(t, cards, sf) })
	}
}

func loopbackPlay(t *testing.T, cards []byte, sf audio.SampleFormat) {
	capAddr, err := ResolveDevice("hw:Loopback,1", cards)
	if err != nil {
		t.Fatal(err)
	}
	const rate, seconds = 44100, 1
	f := audio.Format{Rate: rate, Channels: 2, Sample: sf}
	fb := f.FrameBytes()
	// The capture side opens first and so fixes the loopback's format. Its
	// period matches the sink's (snd-aloop's timer copies per period) and
	// its buffer is deep, so that timer delays under emulation do not lose
	// frames on the capture side, which is not what is under test.
	capture, err := alsa.PcmOpen(uint(capAddr.Card), 1, alsa.PCM_IN, &alsa.Config{
		Channels: 2, Rate: rate, PeriodSize: 882, PeriodCount: 16, Format: pcmFormat(sf),
	})
	if err != nil {
		t.Fatalf("open capture hw:Loopback,1: %v", err)
	}
	defer capture.Close()

	total := rate * (seconds + 1) * fb // one second of slack for start-up and the drain
	recorded := make([]byte, 0, total)
	var wg sync.WaitGroup
	var capErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 882*fb)
		for len(recorded) < total {
			n, err := capture.Read(buf)
			if err != nil {
				capErr = err
				return
			}
			recorded = append(recorded, buf[:n*fb]...)
		}
	}()

	var logs bytes.Buffer
	si, err := New(Options{Device: "hw:Loopback,0", Format: sf, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s := si.(*Sink)
	defer s.Close()
	got, err := s.Open(audio.Format{Rate: rate, Channels: 2, Sample: audio.S16LE})
	if err != nil {
		t.Fatal(err)
	}
	if got != f {
		t.Fatalf("opened %s, want %s", got, f)
	}
	t.Logf("%s/%s opened: %s", runtime.GOOS, runtime.GOARCH, s.Describe())

	// Left: 440 Hz sine; right: 1 kHz cosine, non-zero at frame 0 so the
	// start can be found in the capture. Full-scale-ish values exercise
	// every byte of the wider formats.
	signal := make([]byte, rate*seconds*fb)
	put := func(off int, v float64) {
		x := int32(v * float64(1<<31-1))
		switch sf {
		case audio.S16LE:
			binary.LittleEndian.PutUint16(signal[off:], uint16(x>>16))
		case audio.S24_3LE:
			signal[off], signal[off+1], signal[off+2] = byte(x>>8), byte(x>>16), byte(x>>24)
		default:
			binary.LittleEndian.PutUint32(signal[off:], uint32(x))
		}
	}
	bps := sf.BytesPerSample()
	for i := 0; i < rate*seconds; i++ {
		put(i*fb, 0.37*math.Sin(2*math.Pi*440*float64(i)/rate))
		put(i*fb+bps, 0.29*math.Cos(2*math.Pi*1000*float64(i)/rate))
	}
	period := 882 * fb
	for off := 0; off < len(signal); off += period {
		if _, err := s.Write(signal[off:min(off+period, len(signal))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Drain(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if capErr != nil {
		t.Fatalf("capture: %v", capErr)
	}
	if s.Xruns() != 0 {
		t.Errorf("%d under-runs during the test:\n%s", s.Xruns(), logs.String())
	}
	start := -1
	zero := make([]byte, fb)
	for i := 0; i+fb <= len(recorded); i += fb {
		if !bytes.Equal(recorded[i:i+fb], zero) {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatal("captured only silence")
	}
	if len(recorded)-start < len(signal) {
		t.Fatalf("capture holds %d frames after the start, want %d", (len(recorded)-start)/fb, rate*seconds)
	}
	captured := recorded[start : start+len(signal)]
	if !bytes.Equal(captured, signal) {
		diff, first := 0, -1
		for i := 0; i < len(signal); i += fb {
			if !bytes.Equal(captured[i:i+fb], signal[i:i+fb]) {
				diff++
				if first < 0 {
					first = i / fb
				}
			}
		}
		t.Errorf("%d of %d frames differ from what was written, the first at frame %d (capture starts at frame %d of %d; capture over-runs %d)",
			diff, rate*seconds, first, start/fb, len(recorded)/fb, capture.Xruns())
	}
}

// TestLoopbackControls reads and writes a real integer control through our
// own control ioctls: snd-aloop's "PCM Rate Shift 100000" (80000..120000).
// On a 32-bit ARM binary this is where a wrong struct layout would show.
func TestLoopbackControls(t *testing.T) {
	cards, err := os.ReadFile("/proc/asound/cards")
	if err != nil || !bytes.Contains(cards, []byte("[Loopback")) {
		testenv.Missing(t, "no snd-aloop Loopback card on this kernel (modprobe snd-aloop pcm_substreams=1): real-kernel control test")
	}
	a, err := ResolveDevice("Loopback", cards)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := listControls(a.Card)
	if err != nil {
		t.Fatal(err)
	}
	var shift *alsactl.Info
	for i := range infos {
		if infos[i].ID.Name == "PCM Rate Shift 100000" && infos[i].ID.Subdevice == 0 && infos[i].ID.Device == 0 {
			shift = &infos[i]
		}
	}
	if shift == nil {
		t.Fatalf("no \"PCM Rate Shift 100000\" among %d controls", len(infos))
	}
	if shift.Type != alsactl.TypeInteger || shift.Min != 80000 || shift.Max != 120000 || shift.Count != 1 {
		t.Fatalf("rate shift control: %+v", *shift)
	}
	c, err := alsactl.Open(a.Card)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before, err := c.ReadInts(shift.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if before[0] != 100000 {
		t.Errorf("rate shift reads %d, want the default 100000", before[0])
	}
	if err := c.WriteInts(shift.ID, []int64{100123}); err != nil {
		t.Fatal(err)
	}
	after, err := c.ReadInts(shift.ID, 1)
	if err != nil || after[0] != 100123 {
		t.Errorf("after writing 100123 the control reads %v, %v", after, err)
	}
	_ = c.WriteInts(shift.ID, before)

	// The same through the sink's hardware volume path: 0..65535 maps
	// onto 80000..120000.
	v := volumeState{log: slog.New(slog.DiscardHandler)}
	if err := v.open(kernelMixer, a.Card, "PCM Rate Shift 100000"); err != nil {
		t.Fatal(err)
	}
	defer v.close()
	if err := v.set(65535); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.ReadInts(shift.ID, 1); got[0] != 120000 {
		t.Errorf("volume 65535 set the control to %d, want 120000", got[0])
	}
	_ = c.WriteInts(shift.ID, before)
}

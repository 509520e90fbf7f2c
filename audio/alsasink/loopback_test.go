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
)

// TestLoopbackKernel drives the sink on a real kernel: it plays one second
// through hw:Loopback,0 (snd-aloop) while recording hw:Loopback,1 and
// checks that the capture holds exactly what was written. It runs wherever
// a Loopback card exists (`modprobe snd-aloop`, or inside the QEMU guests of
// `make hil`, which can run this test binary directly) and skips elsewhere.
func TestLoopbackKernel(t *testing.T) {
	cards, err := os.ReadFile("/proc/asound/cards")
	if err != nil || !bytes.Contains(cards, []byte("[Loopback")) {
		t.Skip("no snd-aloop Loopback card on this kernel (modprobe snd-aloop): real-kernel smoke test skipped")
	}
	capAddr, err := ResolveDevice("hw:Loopback,1", cards)
	if err != nil {
		t.Fatal(err)
	}
	// The capture side opens first and so fixes the loopback's format. Its
	// period matches the sink's (snd-aloop's timer copies per period) and
	// its buffer is deep, so that timer delays under emulation do not lose
	// frames on the capture side, which is not what is under test.
	capture, err := alsa.PcmOpen(uint(capAddr.Card), 1, alsa.PCM_IN, &alsa.Config{
		Channels: 2, Rate: 44100, PeriodSize: 882, PeriodCount: 16, Format: alsa.SNDRV_PCM_FORMAT_S16_LE,
	})
	if err != nil {
		t.Fatalf("open capture hw:Loopback,1: %v", err)
	}
	defer capture.Close()

	const rate, seconds = 44100, 1
	total := rate * (seconds + 1) // one second of slack for start-up and the drain
	recorded := make([]int16, 0, total*2)
	var wg sync.WaitGroup
	var capErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]int16, 882*2)
		for len(recorded) < total*2 {
			n, err := capture.Read(buf)
			if err != nil {
				capErr = err
				return
			}
			recorded = append(recorded, buf[:n*2]...)
		}
	}()

	var logs bytes.Buffer
	si, err := New(Options{Device: "hw:Loopback,0", Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s := si.(*Sink)
	defer s.Close()
	got, err := s.Open(audio.Format{Rate: rate, Channels: 2, Sample: audio.S16LE})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s/%s opened: %s", runtime.GOOS, runtime.GOARCH, s.Describe())

	// Left: 440 Hz sine; right: 1 kHz cosine, non-zero at frame 0 so the
	// start can be found in the capture.
	signal := make([]byte, rate*seconds*got.FrameBytes())
	for i := 0; i < rate*seconds; i++ {
		l := int16(12000 * math.Sin(2*math.Pi*440*float64(i)/rate))
		r := int16(9000 * math.Cos(2*math.Pi*1000*float64(i)/rate))
		binary.LittleEndian.PutUint16(signal[4*i:], uint16(l))
		binary.LittleEndian.PutUint16(signal[4*i+2:], uint16(r))
	}
	period := 882 * got.FrameBytes()
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
	for i := 0; i+1 < len(recorded); i += 2 {
		if recorded[i] != 0 || recorded[i+1] != 0 {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatal("captured only silence")
	}
	if len(recorded)-start < rate*seconds*2 {
		t.Fatalf("capture holds %d frames after the start, want %d", (len(recorded)-start)/2, rate*seconds)
	}
	diff, first, last := 0, -1, -1
	for i := 0; i < rate*seconds*2; i++ {
		want := int16(binary.LittleEndian.Uint16(signal[2*i:]))
		if recorded[start+i] != want {
			diff++
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if diff != 0 {
		t.Errorf("%d of %d samples differ from what was written (frames %d to %d; capture starts at frame %d of %d; capture over-runs %d)",
			diff, rate*seconds*2, first/2, last/2, start/2, len(recorded)/2, capture.Xruns())
		for i := first &^ 1; i < first+8 && i < rate*seconds*2; i += 2 {
			t.Logf("frame %d: wrote %d,%d captured %d,%d", i/2,
				int16(binary.LittleEndian.Uint16(signal[2*i:])), int16(binary.LittleEndian.Uint16(signal[2*i+2:])), recorded[start+i], recorded[start+i+1])
		}
	}
}

// TestLoopbackControls reads and writes a real integer control through our
// own control ioctls: snd-aloop's "PCM Rate Shift 100000" (80000..120000).
// On a 32-bit ARM binary this is where a wrong struct layout would show.
func TestLoopbackControls(t *testing.T) {
	cards, err := os.ReadFile("/proc/asound/cards")
	if err != nil || !bytes.Contains(cards, []byte("[Loopback")) {
		t.Skip("no snd-aloop Loopback card on this kernel (modprobe snd-aloop): real-kernel control test skipped")
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
	vc, err := kernelMixer(a.Card, "PCM Rate Shift 100000")
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	var v volumeState
	v.ctl = vc
	if err := v.set(65535); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.ReadInts(shift.ID, 1); got[0] != 120000 {
		t.Errorf("volume 65535 set the control to %d, want 120000", got[0])
	}
	_ = c.WriteInts(shift.ID, before)
}

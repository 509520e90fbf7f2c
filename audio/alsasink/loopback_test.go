package alsasink

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"math"
	"os"
	"sync"
	"testing"

	"github.com/gen2brain/alsa"

	"github.com/speakerbox/speakerbox/audio"
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
	// The capture side opens first and so fixes the loopback's format.
	capture, err := alsa.PcmOpen(uint(capAddr.Card), 1, alsa.PCM_IN, &alsa.Config{
		Channels: 2, Rate: 44100, PeriodSize: 1024, PeriodCount: 4, Format: alsa.SNDRV_PCM_FORMAT_S16_LE,
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
		buf := make([]int16, 1024*2)
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
	t.Logf("opened: %s", s.Describe())

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
	diff := 0
	for i := 0; i < rate*seconds*2; i++ {
		want := int16(binary.LittleEndian.Uint16(signal[2*i:]))
		if recorded[start+i] != want {
			diff++
		}
	}
	if diff != 0 {
		t.Errorf("%d of %d samples differ from what was written", diff, rate*seconds*2)
	}
}

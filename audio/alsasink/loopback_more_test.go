//go:build realkernel

package alsasink

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gen2brain/alsa"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/internal/testenv"
)

func loopbackCards(t *testing.T) []byte {
	t.Helper()
	cards, err := os.ReadFile("/proc/asound/cards")
	if err != nil || !bytes.Contains(cards, []byte("[Loopback")) {
		testenv.Missing(t, "no snd-aloop Loopback card on this kernel (modprobe snd-aloop pcm_substreams=1): real-kernel test")
	}
	return cards
}

// TestLoopbackXrunPauseDrain stalls the writer for longer than the buffer
// on a real kernel: the under-run is counted and logged and playback goes
// on; then pause (drop + prepare), more audio, and a drain.
func TestLoopbackXrunPauseDrain(t *testing.T) {
	loopbackCards(t)
	var logs bytes.Buffer
	si, err := New(Options{Device: "hw:Loopback,0", Buffer: 200 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s := si.(*Sink)
	defer s.Close()
	f, err := s.Open(audio.Format{Rate: 44100, Channels: 2, Sample: audio.S16LE})
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 44100*3/10*f.FrameBytes()) // 300 ms
	for i := range chunk {
		chunk[i] = byte(i)
	}
	if _, err := s.Write(chunk); err != nil {
		t.Fatal(err)
	}
	if d := s.Delay(); d <= 0 || d > 250*time.Millisecond {
		t.Errorf("Delay = %v while playing a 200 ms buffer", d)
	}
	time.Sleep(600 * time.Millisecond) // the buffer runs dry: an under-run
	if _, err := s.Write(chunk); err != nil {
		t.Fatalf("write after the stall: %v", err)
	}
	if s.Xruns() != 1 {
		t.Errorf("Xruns = %d after one stall, want 1", s.Xruns())
	}
	if !strings.Contains(logs.String(), "under-run") {
		t.Errorf("no under-run log line:\n%s", logs.String())
	}
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	if d := s.Delay(); d != 0 {
		t.Errorf("Delay = %v after Pause dropped the buffer", d)
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(chunk); err != nil {
		t.Fatalf("write after resume: %v", err)
	}
	start := time.Now()
	if err := s.Drain(); err != nil {
		t.Fatal(err)
	}
	// Drain waits for what was queued (up to 200 ms plus the silence).
	if el := time.Since(start); el < 50*time.Millisecond {
		t.Errorf("Drain returned after %v: it did not wait for the queued audio", el)
	}
	if s.Xruns() != 1 {
		t.Errorf("Xruns = %d at the end, want 1 (pause and drain are not under-runs)", s.Xruns())
	}
	// The device is ready for the next track.
	if _, err := s.Write(chunk); err != nil {
		t.Fatalf("write after drain: %v", err)
	}
}

// TestLoopbackRefusalAndBusy: with the capture side holding the loopback at
// 44.1 kHz, 48 kHz is refused with what the device offers; and a second
// opener of a single-substream device gets a busy error naming us.
func TestLoopbackRefusalAndBusy(t *testing.T) {
	cards := loopbackCards(t)
	capAddr, err := ResolveDevice("hw:Loopback,1", cards)
	if err != nil {
		t.Fatal(err)
	}
	capture, err := alsa.PcmOpen(uint(capAddr.Card), 1, alsa.PCM_IN, &alsa.Config{
		Channels: 2, Rate: 44100, PeriodSize: 882, PeriodCount: 8, Format: alsa.SNDRV_PCM_FORMAT_S16_LE,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()
	// snd-aloop locks the parameters once both ends are set up; the capture
	// must be prepared for the constraint to apply.
	if err := capture.Prepare(); err != nil {
		t.Fatal(err)
	}

	si, _ := New(Options{Device: "hw:Loopback,0"})
	_, err = si.Open(audio.Format{Rate: 48000, Channels: 2, Sample: audio.S16LE})
	var oe *OfferError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "44100 Hz") {
		t.Errorf("48 kHz on a loopback held at 44.1 kHz: err = %v, want an OfferError listing 44100 Hz", err)
	} else {
		t.Logf("refusal: %v", err)
	}
	si.Close()

	// One value per loopback card; the first is the first Loopback card.
	subs, _ := os.ReadFile("/sys/module/snd_aloop/parameters/pcm_substreams")
	if first, _, _ := strings.Cut(strings.TrimSpace(string(subs)), ","); first != "1" {
		testenv.Missing(t, "snd-aloop has %q substreams per device; load it with pcm_substreams=1 to test a busy device", first)
	}
	a, _ := New(Options{Device: "hw:Loopback,0"})
	defer a.Close()
	if _, err := a.Open(audio.Format{Rate: 44100, Channels: 2, Sample: audio.S16LE}); err != nil {
		t.Fatal(err)
	}
	b, _ := New(Options{Device: "hw:Loopback,0"})
	_, err = b.Open(audio.Format{Rate: 44100, Channels: 2, Sample: audio.S16LE})
	var busy *BusyError
	if !errors.As(err, &busy) {
		t.Fatalf("second opener: err = %v, want a BusyError", err)
	}
	if want := "pid " + itoa(os.Getpid()); !strings.Contains(busy.Owner, want) {
		t.Errorf("busy error %q does not name the holder (%s)", err, want)
	}
	t.Logf("busy: %v", err)
}

func itoa(n int) string {
	var b []byte
	for ; n > 0 || len(b) == 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

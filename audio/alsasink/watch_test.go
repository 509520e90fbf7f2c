package alsasink

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/speakerbox/speakerbox/audio/alsasink/alsactl"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newWatchedSink(t *testing.T, card *fakeCard) (*VolumeSink, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	mixer := func(_ int, name string) (volumeControl, error) { return findVolume(card.open(), name) }
	be := &fakeBackend{devCaps: typicalDAC(), procCards: []byte(procCards)}
	si, err := newSink(Options{Device: "hw:Loopback,0", Mixer: "PCM", Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, be, nil, mixer)
	if err != nil {
		t.Fatal(err)
	}
	return si.(*VolumeSink), logs
}

const piVolume = "PCM Playback Volume"

func TestWatchVolumeReportsChangesMadeElsewhereOnly(t *testing.T) {
	card := piCard()
	vs, logs := newWatchedSink(t, card)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := vs.WatchVolume(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Our own write (applied at Open) makes an event that must not be
	// reported: the first value to arrive is the one alsamixer set after it.
	if err := vs.SetVolume(32768); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.Open(cd); err != nil {
		t.Fatal(err)
	}
	if got := card.value(1); !slices.Equal(got, []int64{-2600, -2600}) {
		t.Fatalf("hardware %v after SetVolume(32768), want -26 dB", got)
	}
	card.set(t, piVolume, -1000)
	// -10 dB is 46 dB above the slider's floor of -56 dB: 46/60 of 65535.
	if got := <-ch; got != 50244 {
		t.Fatalf("reported %d for -10 dB set elsewhere, want 50244", got)
	}

	// The volume reported, set back by the app's side, keeps the exact
	// value on the hardware (no write that changes it, so no event).
	if err := vs.SetVolume(50244); err != nil {
		t.Fatal(err)
	}
	if got := card.value(1); !slices.Equal(got, []int64{-1000, -1000}) {
		t.Errorf("hardware %v after the reported volume came back, want -1000 kept", got)
	}

	// Another own write, then the knob turned to the bottom (mute): 0.
	if err := vs.SetVolume(65535); err != nil {
		t.Fatal(err)
	}
	card.set(t, piVolume, -10239)
	if got := <-ch; got != 0 {
		t.Fatalf("reported %d for the muted bottom, want 0", got)
	}

	// The level set on the hardware is what a reopened device restores,
	// not the last volume SetVolume had.
	writes := card.writeCount()
	if err := vs.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.Open(cd); err != nil {
		t.Fatal(err)
	}
	if card.writeCount() != writes+1 || !slices.Equal(card.value(1), []int64{-10239, -10239}) {
		t.Errorf("reopen wrote %d values, hardware %v; want the muted value kept", card.writeCount()-writes, card.value(1))
	}

	// A balance change: the louder channel is the volume.
	h := card.open()
	if err := h.WriteInts(card.ids[0], []int64{-5600, 400}); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if got := <-ch; got != 65535 {
		t.Errorf("reported %d for channels at -56 and +4 dB, want 65535", got)
	}

	// Two changes while nobody receives: the latest is what arrives last,
	// and nothing else but the first may come before it.
	card.set(t, piVolume, -3000) // 26/60 of 65535 = 28398.5
	card.set(t, piVolume, -2000) // 36/60 = 39321
	for n := 0; ; n++ {
		got := <-ch
		if got == 39321 {
			break
		}
		if got != 28399 || n > 0 {
			t.Fatalf("reported %d, want 28399 then 39321, or 39321", got)
		}
	}

	cancel()
	if _, ok := <-ch; ok {
		t.Fatal("a value after cancel")
	}
	// The channel closes once the watcher's handle is closed: only the
	// sink's own is still open.
	if err := vs.Close(); err != nil {
		t.Fatal(err)
	}
	card.mu.Lock()
	open := len(card.handles)
	card.mu.Unlock()
	if open != 0 {
		t.Errorf("%d control handles left open", open)
	}
	if !strings.Contains(logs.String(), "watching the mixer control") {
		t.Errorf("log: %s", logs.String())
	}
}

// A control that goes away (a USB DAC unplugged) ends the watch with a
// warning and a closed channel.
func TestWatchVolumeEndsWhenTheControlGoes(t *testing.T) {
	card := piCard()
	vs, logs := newWatchedSink(t, card)
	ch, err := vs.WatchVolume(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	card.remove(piVolume)
	for v := range ch {
		t.Errorf("reported %d", v)
	}
	if !strings.Contains(logs.String(), "the mixer control went away") {
		t.Errorf("log: %s", logs.String())
	}
	card.mu.Lock()
	defer card.mu.Unlock()
	if len(card.handles) != 0 {
		t.Error("the watcher's handle is still open")
	}
}

// An event for another control, or for its info only, is not a change of
// the volume: nothing is read or reported for it.
func TestWatchVolumeIgnoresOtherEvents(t *testing.T) {
	card := piCard()
	vs, _ := newWatchedSink(t, card)
	ch, err := vs.WatchVolume(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	card.mu.Lock()
	card.values = map[uint32][]int64{1: {-1000, -1000}} // changed behind the events' back
	card.notify(alsactl.Event{Type: alsactl.EventElem, Mask: alsactl.EventValue, ID: card.ids[1]})
	card.notify(alsactl.Event{Type: alsactl.EventElem, Mask: alsactl.EventInfo, ID: card.ids[0]})
	card.mu.Unlock()
	card.set(t, piVolume, -2000)
	if got := <-ch; got != 39321 {
		t.Errorf("first report %d, want 39321 (-20 dB); the events of other kinds were taken for changes", got)
	}
}

func TestWatchVolumeErrors(t *testing.T) {
	card := piCard()
	mixer := func(_ int, name string) (volumeControl, error) { return findVolume(card.open(), name) }
	be := &fakeBackend{devCaps: typicalDAC(), procCards: []byte(procCards)}
	si, _ := newSink(Options{Device: "hw:Loopback,0", Mixer: "Digital"}, be, nil, mixer)
	_, err := si.(*VolumeSink).WatchVolume(t.Context())
	if err == nil || !strings.Contains(err.Error(), `no ALSA mixer control "Digital"`) {
		t.Errorf("missing control: %v", err)
	}
	si, _ = newSink(Options{Device: "hw:USB,0", Mixer: "PCM"}, be, nil, mixer)
	_, err = si.(*VolumeSink).WatchVolume(t.Context())
	if err == nil || !strings.Contains(err.Error(), `"USB"`) {
		t.Errorf("missing card: %v", err)
	}
}

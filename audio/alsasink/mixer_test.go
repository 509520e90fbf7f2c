package alsasink

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/alsasink/alsactl"
	"github.com/speakerbox/speakerbox/internal/testenv"
)

// fakeCard is a card's mixer controls as the kernel keeps them, shared by
// every handle opened on it: a write through one handle is seen by the
// others, and every subscribed handle gets the change event, the writer's
// included, as from the kernel.
type fakeCard struct {
	mu      sync.Mutex
	ids     []alsactl.ID
	infos   map[string]alsactl.Info
	tlvs    map[string][]uint32
	values  map[uint32][]int64 // by numid
	handles []*fakeCtl
	writes  [][]int64 // every write, through any handle
	closed  int       // handles closed
}

// fakeCtl is one open handle (a file descriptor) on a fakeCard.
type fakeCtl struct {
	card       *fakeCard
	mu         sync.Mutex
	subscribed bool
	queue      []alsactl.Event
	wake       chan struct{}
	done       chan struct{}
	once       sync.Once
}

func (c *fakeCard) open() *fakeCtl {
	h := &fakeCtl{card: c, wake: make(chan struct{}, 1), done: make(chan struct{})}
	c.mu.Lock()
	c.handles = append(c.handles, h)
	c.mu.Unlock()
	return h
}

func (c *fakeCard) byNumid(numid uint32) (alsactl.ID, bool) {
	for _, id := range c.ids {
		if id.Numid == numid {
			return id, true
		}
	}
	return alsactl.ID{}, false
}

// notify queues an event on every subscribed, open handle (c.mu held).
func (c *fakeCard) notify(ev alsactl.Event) {
	for _, h := range c.handles {
		h.mu.Lock()
		if h.subscribed {
			h.queue = append(h.queue, ev)
			select {
			case h.wake <- struct{}{}:
			default:
			}
		}
		h.mu.Unlock()
	}
}

// set writes a value the way another program (alsamixer) would: through a
// handle of its own.
func (c *fakeCard) set(t *testing.T, name string, raw int64) {
	t.Helper()
	h := c.open()
	defer h.Close()
	for _, id := range c.ids {
		if id.Name == name {
			info, _ := h.Info(id)
			vals := make([]int64, info.Count)
			for i := range vals {
				vals[i] = raw
			}
			if err := h.WriteInts(id, vals); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no control %q", name)
}

// remove takes a control away (a USB DAC unplugged).
func (c *fakeCard) remove(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range c.ids {
		if id.Name == name {
			c.notify(alsactl.Event{Type: alsactl.EventElem, Mask: alsactl.EventRemove, ID: id})
		}
	}
}

func (c *fakeCard) value(numid uint32) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int64(nil), c.values[numid]...)
}

func (c *fakeCard) writeCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.writes)
}

func (h *fakeCtl) List() ([]alsactl.ID, error) { return h.card.ids, nil }

func (h *fakeCtl) Info(id alsactl.ID) (alsactl.Info, error) {
	in, ok := h.card.infos[id.Name]
	if !ok {
		return alsactl.Info{}, syscall.ENOENT
	}
	in.ID = id
	return in, nil
}

func (h *fakeCtl) TLV(id alsactl.ID) ([]uint32, error) {
	in, ok := h.card.infos[id.Name]
	if !ok || in.Access&alsactl.AccessTLVRead == 0 {
		return nil, syscall.ENXIO
	}
	return h.card.tlvs[id.Name], nil
}

func (h *fakeCtl) ReadInts(id alsactl.ID, n int) ([]int64, error) {
	c := h.card
	c.mu.Lock()
	defer c.mu.Unlock()
	vals, ok := c.values[id.Numid]
	if !ok {
		vals = make([]int64, n)
	}
	return append([]int64(nil), vals[:n]...), nil
}

func (h *fakeCtl) WriteInts(id alsactl.ID, v []int64) error {
	c := h.card
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.values == nil {
		c.values = map[uint32][]int64{}
	}
	c.writes = append(c.writes, append([]int64(nil), v...))
	// Like the drivers: an event only when the value changed.
	if slices.Equal(c.values[id.Numid], v) {
		return nil
	}
	c.values[id.Numid] = append([]int64(nil), v...)
	if full, ok := c.byNumid(id.Numid); ok {
		c.notify(alsactl.Event{Type: alsactl.EventElem, Mask: alsactl.EventValue, ID: full})
	}
	return nil
}

func (h *fakeCtl) Subscribe() error {
	h.mu.Lock()
	h.subscribed = true
	h.mu.Unlock()
	return nil
}

func (h *fakeCtl) ReadEvents(buf []alsactl.Event) (int, error) {
	for {
		select {
		case <-h.done:
			return 0, os.ErrClosed
		default:
		}
		h.mu.Lock()
		if len(h.queue) > 0 {
			n := copy(buf, h.queue)
			h.queue = h.queue[n:]
			h.mu.Unlock()
			return n, nil
		}
		h.mu.Unlock()
		select {
		case <-h.wake:
		case <-h.done:
		}
	}
}

func (h *fakeCtl) Close() error {
	h.once.Do(func() {
		close(h.done)
		c := h.card
		c.mu.Lock()
		c.closed++
		c.handles = slices.DeleteFunc(c.handles, func(x *fakeCtl) bool { return x == h })
		c.mu.Unlock()
	})
	return nil
}

// A Raspberry Pi's headphone jack: "PCM Playback Volume", -102.39..+4 dB in
// 0.01 dB steps with the bottom muted (DB_SCALE), plus a switch.
func piCard() *fakeCard {
	return &fakeCard{
		ids: []alsactl.ID{{Numid: 1, Name: "PCM Playback Volume"}, {Numid: 2, Name: "PCM Playback Switch"}},
		infos: map[string]alsactl.Info{
			"PCM Playback Volume": {Type: alsactl.TypeInteger, Access: alsactl.AccessRead | alsactl.AccessWrite | alsactl.AccessTLVRead, Count: 2, Min: -10239, Max: 400},
			"PCM Playback Switch": {Type: alsactl.TypeBoolean, Access: alsactl.AccessRead | alsactl.AccessWrite, Count: 1, Max: 1},
		},
		tlvs: map[string][]uint32{
			"PCM Playback Volume": {tlvDBScale, 8, uint32(0xffffd801), tlvDBScaleMute | 1}, // -10239, step 1, mute
		},
	}
}

// noTLVCard is the same control without a dB description.
func noTLVCard() *fakeCard {
	c := piCard()
	in := c.infos["PCM Playback Volume"]
	in.Access &^= alsactl.AccessTLVRead
	c.infos["PCM Playback Volume"] = in
	return c
}

func TestFindVolumeBySimpleOrFullName(t *testing.T) {
	for _, name := range []string{"PCM", "PCM Playback Volume"} {
		vc, err := findVolume(piCard().open(), name)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if lo, hi := vc.Range(); lo != -10239 || hi != 400 {
			t.Errorf("%q: range %d..%d", name, lo, hi)
		}
	}
	_, err := findVolume(piCard().open(), "Master")
	if err == nil || !strings.Contains(err.Error(), `no ALSA mixer control "Master"`) || !strings.Contains(err.Error(), `"PCM"`) {
		t.Errorf("missing control: err = %v, want it to list PCM", err)
	}
	_, err = findVolume(piCard().open(), "PCM Playback Switch")
	if err == nil || !strings.Contains(err.Error(), "not a writable volume") {
		t.Errorf("switch as volume: err = %v", err)
	}
}

// The Connect volume set before Open is applied at Open, later ones at
// once: through the control's dB scale when it has one (the slider spans
// its top 60 dB evenly), on its raw steps when it has none, which the log
// says once.
func TestHardwareVolumeAppliedOnOpenAndAfter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		card    *fakeCard
		want    []int64 // for 65535 (before Open), 0, 32768
		logWant string
	}{
		// 4 dB - 60 dB + 60 dB * 32768/65535 = -26.00 dB.
		{"dB scale", piCard(), []int64{400, -10239, -2600}, "from_db=-56 to_db=4"},
		// -10239 + 10639*32768/65535, rounded down.
		{"no TLV", noTLVCard(), []int64{400, -10239, -4920}, "raw steps, not dB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := tc.card
			var openedCard int
			mixer := func(c int, name string) (volumeControl, error) {
				openedCard = c
				return findVolume(card.open(), name)
			}
			var logs bytes.Buffer
			be := &fakeBackend{devCaps: typicalDAC(), procCards: []byte(procCards)}
			si, err := newSink(Options{Device: "hw:Loopback,0", Mixer: "PCM", Log: slog.New(slog.NewTextHandler(&logs, nil))}, be, nil, mixer)
			if err != nil {
				t.Fatal(err)
			}
			hv, ok := si.(audio.HardwareVolume)
			if !ok {
				t.Fatal("a sink with a mixer does not implement audio.HardwareVolume")
			}
			if err := hv.SetVolume(65535); err != nil { // before Open: remembered
				t.Fatal(err)
			}
			if card.writeCount() != 0 {
				t.Fatal("volume written before the device was open")
			}
			for range 2 { // the second Open reopens the control: logged once
				if _, err := si.Open(cd); err != nil {
					t.Fatal(err)
				}
				if err := si.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := si.Open(cd); err != nil {
				t.Fatal(err)
			}
			if openedCard != 1 {
				t.Errorf("mixer opened on card %d, want the sink's card 1", openedCard)
			}
			if err := hv.SetVolume(0); err != nil {
				t.Fatal(err)
			}
			if err := hv.SetVolume(32768); err != nil {
				t.Fatal(err)
			}
			want := [][]int64{{tc.want[0], tc.want[0]}, {tc.want[0], tc.want[0]}, {tc.want[0], tc.want[0]}, {tc.want[1], tc.want[1]}, {tc.want[2], tc.want[2]}}
			if !slices.EqualFunc(card.writes, want, slices.Equal) {
				t.Errorf("writes %v, want %v", card.writes, want)
			}
			if err := si.Close(); err != nil || card.closed != 3 {
				t.Errorf("close: %v, mixer handles closed %d of 3", err, card.closed)
			}
			if n := strings.Count(logs.String(), "hardware volume"); n != 1 || !strings.Contains(logs.String(), tc.logWant) {
				t.Errorf("log has %d lines on the mapping, want one saying %q:\n%s", n, tc.logWant, logs.String())
			}
		})
	}

	// Without a mixer the sink must not pretend to have hardware volume.
	be := &fakeBackend{devCaps: typicalDAC(), procCards: []byte(procCards)}
	plain, _ := newSink(Options{}, be, nil, nil)
	if _, ok := plain.(audio.HardwareVolume); ok {
		t.Error("a sink without a mixer implements audio.HardwareVolume")
	}
	if _, err := newSink(Options{Mixer: "PCM", RangeDB: -1}, be, nil, nil); err == nil || !strings.Contains(err.Error(), "audio.volume_range_db") {
		t.Errorf("negative range: %v", err)
	}
}

func TestOpenFailsWhenTheMixerControlIsMissing(t *testing.T) {
	be := &fakeBackend{devCaps: typicalDAC(), procCards: []byte(procCards)}
	mixer := func(int, string) (volumeControl, error) { return findVolume(piCard().open(), "Digital") }
	si, _ := newSink(Options{Mixer: "Digital"}, be, nil, mixer)
	_, err := si.Open(cd)
	if err == nil || !strings.Contains(err.Error(), `"Digital"`) {
		t.Fatalf("err = %v", err)
	}
	if !be.pcm.closed {
		t.Error("device left open after the mixer failed")
	}
	var oe *OfferError
	if errors.As(err, &oe) {
		t.Error("a mixer problem reported as a format problem")
	}
}

func TestWriteiIoctlNumber(t *testing.T) {
	want := map[string]uintptr{"amd64": 0x40184150, "arm64": 0x40184150, "arm": 0x400c4150, "386": 0x400c4150}
	w, ok := want[runtime.GOARCH]
	if !ok {
		testenv.Missing(t, "no reference WRITEI_FRAMES ioctl number for GOARCH=%s: add one to this table", runtime.GOARCH)
	}
	if ioctlWriteiFrames != w {
		t.Errorf("WRITEI_FRAMES = %#x, want %#x", ioctlWriteiFrames, w)
	}
}

// What doctor prints as the mixer name is what findVolume takes back.
func TestMixerNameRoundTrip(t *testing.T) {
	card := &fakeCard{
		ids: []alsactl.ID{{Name: "PCM Playback Volume"}, {Name: "Digital Volume"}, {Name: "Master"}, {Name: "Slave Rate Volume"}, {Name: "PCM Playback Switch"}},
		infos: map[string]alsactl.Info{
			"PCM Playback Volume": {Type: alsactl.TypeInteger, Access: alsactl.AccessRead | alsactl.AccessWrite, Count: 2, Min: -10239, Max: 400},
			"Digital Volume":      {Type: alsactl.TypeInteger, Access: alsactl.AccessRead | alsactl.AccessWrite, Count: 2, Min: 0, Max: 207},
			"Master":              {Type: alsactl.TypeInteger, Access: alsactl.AccessRead | alsactl.AccessWrite, Count: 1, Min: 0, Max: 31},
			"Slave Rate Volume":   {Type: alsactl.TypeInteger, Access: alsactl.AccessRead, Count: 1, Max: 192000},
			"PCM Playback Switch": {Type: alsactl.TypeBoolean, Access: alsactl.AccessRead | alsactl.AccessWrite, Count: 1, Max: 1},
		},
	}
	var names []string
	for _, id := range card.ids {
		info, _ := card.open().Info(id)
		if name, ok := MixerName(info); ok {
			names = append(names, name)
			if _, err := findVolume(card.open(), name); err != nil {
				t.Errorf("%q named by MixerName is not found: %v", name, err)
			}
		}
	}
	// A read-only control and one whose name says nothing of volume get no
	// mixer name.
	if strings.Join(names, ",") != "PCM,Digital" {
		t.Errorf("mixer names %q, want PCM and Digital", names)
	}
	_, err := findVolume(card.open(), "Headphone")
	if err == nil || !strings.Contains(err.Error(), `"PCM", "Digital"`) {
		t.Errorf("missing control: %v", err)
	}
}

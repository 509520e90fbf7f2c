package alsasink

import (
	"errors"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/alsasink/alsactl"
	"github.com/speakerbox/speakerbox/internal/testenv"
)

type fakeCtl struct {
	ids    []alsactl.ID
	infos  map[string]alsactl.Info
	writes [][]int64
	closed bool
}

func (c *fakeCtl) List() ([]alsactl.ID, error) { return c.ids, nil }
func (c *fakeCtl) Info(id alsactl.ID) (alsactl.Info, error) {
	in, ok := c.infos[id.Name]
	if !ok {
		return alsactl.Info{}, syscall.ENOENT
	}
	in.ID = id
	return in, nil
}
func (c *fakeCtl) WriteInts(_ alsactl.ID, v []int64) error {
	c.writes = append(c.writes, append([]int64(nil), v...))
	return nil
}
func (c *fakeCtl) Close() error { c.closed = true; return nil }

// A Raspberry Pi's headphone jack: "PCM Playback Volume", -102.39..+4 dB in
// 0.01 dB steps, plus a switch.
func piCard() *fakeCtl {
	return &fakeCtl{
		ids: []alsactl.ID{{Numid: 1, Name: "PCM Playback Volume"}, {Numid: 2, Name: "PCM Playback Switch"}},
		infos: map[string]alsactl.Info{
			"PCM Playback Volume": {Type: alsactl.TypeInteger, Access: alsactl.AccessRead | alsactl.AccessWrite, Count: 2, Min: -10239, Max: 400},
			"PCM Playback Switch": {Type: alsactl.TypeBoolean, Access: alsactl.AccessRead | alsactl.AccessWrite, Count: 1, Max: 1},
		},
	}
}

func TestFindVolumeBySimpleOrFullName(t *testing.T) {
	for _, name := range []string{"PCM", "PCM Playback Volume"} {
		vc, err := findVolume(piCard(), name)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if lo, hi := vc.Range(); lo != -10239 || hi != 400 {
			t.Errorf("%q: range %d..%d", name, lo, hi)
		}
	}
	_, err := findVolume(piCard(), "Master")
	if err == nil || !strings.Contains(err.Error(), `no ALSA mixer control "Master"`) || !strings.Contains(err.Error(), `"PCM"`) {
		t.Errorf("missing control: err = %v, want it to list PCM", err)
	}
	_, err = findVolume(piCard(), "PCM Playback Switch")
	if err == nil || !strings.Contains(err.Error(), "not a writable volume") {
		t.Errorf("switch as volume: err = %v", err)
	}
}

func TestHardwareVolumeAppliedOnOpenAndAfter(t *testing.T) {
	card := piCard()
	var openedCard int
	mixer := func(c int, name string) (volumeControl, error) {
		openedCard = c
		return findVolume(card, name)
	}
	be := &fakeBackend{devCaps: typicalDAC(), procCards: []byte(procCards)}
	si, err := newSink(Options{Device: "hw:Loopback,0", Mixer: "PCM"}, be, nil, mixer)
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
	if len(card.writes) != 0 {
		t.Fatal("volume written before the device was open")
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
	want := [][]int64{{400, 400}, {-10239, -10239}, {-4920, -4920}} // -10239 + 10639*32768/65535
	if len(card.writes) != len(want) {
		t.Fatalf("writes %v, want %v", card.writes, want)
	}
	for i := range want {
		if card.writes[i][0] != want[i][0] || card.writes[i][1] != want[i][1] {
			t.Errorf("write %d = %v, want %v", i, card.writes[i], want[i])
		}
	}
	if err := si.Close(); err != nil || !card.closed {
		t.Errorf("close: %v, mixer closed %v", err, card.closed)
	}

	// Without a mixer the sink must not pretend to have hardware volume.
	plain, _ := newSink(Options{}, be, nil, nil)
	if _, ok := plain.(audio.HardwareVolume); ok {
		t.Error("a sink without a mixer implements audio.HardwareVolume")
	}
}

func TestOpenFailsWhenTheMixerControlIsMissing(t *testing.T) {
	be := &fakeBackend{devCaps: typicalDAC(), procCards: []byte(procCards)}
	mixer := func(int, string) (volumeControl, error) { return findVolume(piCard(), "Digital") }
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
	card := &fakeCtl{
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
		info, _ := card.Info(id)
		if name, ok := MixerName(info); ok {
			names = append(names, name)
			if _, err := findVolume(card, name); err != nil {
				t.Errorf("%q named by MixerName is not found: %v", name, err)
			}
		}
	}
	// A read-only control and one whose name says nothing of volume get no
	// mixer name.
	if strings.Join(names, ",") != "PCM,Digital" {
		t.Errorf("mixer names %q, want PCM and Digital", names)
	}
	_, err := findVolume(card, "Headphone")
	if err == nil || !strings.Contains(err.Error(), `"PCM", "Digital"`) {
		t.Errorf("missing control: %v", err)
	}
}

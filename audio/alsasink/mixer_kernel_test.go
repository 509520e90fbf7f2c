//go:build realkernel

package alsasink

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/audio/alsasink/alsactl"
	"github.com/speakerbox/speakerbox/internal/testenv"
)

// alsamixer stands for another program: it sets the control through a
// control device handle of its own.
type alsamixer struct {
	t   *testing.T
	ctl *alsactl.Ctl
	id  alsactl.ID
	n   int
}

func openAlsamixer(t *testing.T, card int, name string) *alsamixer {
	t.Helper()
	c, err := alsactl.Open(card)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ids, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if id.Name == name {
			info, err := c.Info(id)
			if err != nil {
				t.Fatal(err)
			}
			return &alsamixer{t: t, ctl: c, id: id, n: int(info.Count)}
		}
	}
	t.Fatalf("no control %q on card %d", name, card)
	return nil
}

func (a *alsamixer) set(raw ...int64) {
	a.t.Helper()
	if len(raw) == 1 {
		raw = slices.Repeat(raw, a.n)
	}
	if err := a.ctl.WriteInts(a.id, raw); err != nil {
		a.t.Fatal(err)
	}
}

func (a *alsamixer) get() []int64 {
	a.t.Helper()
	v, err := a.ctl.ReadInts(a.id, a.n)
	if err != nil {
		a.t.Fatal(err)
	}
	return v
}

// recv takes the next reported volume. The bound only turns a hang into a
// failure that says where; nothing waits on it otherwise.
func recv(t *testing.T, ch <-chan uint32) uint32 {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatal("the watch ended")
		}
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("no volume reported within 20 s")
	}
	return 0
}

func cardIndex(t *testing.T, name string) (int, bool) {
	t.Helper()
	cards, err := os.ReadFile("/proc/asound/cards")
	if err != nil {
		return 0, false
	}
	a, err := ResolveDevice("hw:"+name, cards)
	if err != nil {
		return 0, false
	}
	return a.Card, true
}

// TestKernelMixerDummyDB drives snd-dummy's "Master Volume" (-45..0 dB in
// 0.3 dB steps, raw -50..100, a DB_SCALE TLV) on a real kernel: the volume
// goes through the TLV's dB scale, a value another program writes is
// reported as the volume that sets it, and our own writes are not
// reported. The QEMU harness loads snd-dummy where the kernel has it
// (Debian amd64; arm64 is built without it) and says so in
// HIL_SND_DUMMY=1.
func TestKernelMixerDummyDB(t *testing.T) {
	card, ok := cardIndex(t, "Dummy")
	if !ok {
		if os.Getenv("HIL_SND_DUMMY") == "1" {
			t.Fatal("snd-dummy was loaded but no Dummy card is listed")
		}
		testenv.Missing(t, "no snd-dummy Dummy card on this kernel (modprobe snd-dummy; Debian's arm64 kernel lacks it)")
	}
	var logs bytes.Buffer
	si, err := New(Options{Device: "hw:Dummy,0", Mixer: "Master", Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	vs := si.(*VolumeSink)
	am := openAlsamixer(t, card, "Master Volume")
	am.set(-50) // a known start, before the watch

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := vs.WatchVolume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := vs.SetVolume(65535); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.Open(cd); err != nil {
		t.Fatal(err)
	}
	defer vs.Close()
	if got := am.get(); !slices.Equal(got, []int64{100, 100}) {
		t.Fatalf("control %v at volume 65535, want 100 (0 dB)", got)
	}
	// 45 dB span, even in dB: half way is -22.5 dB, the nearest step 25
	// (-22.5 dB exactly).
	if err := vs.SetVolume(32768); err != nil {
		t.Fatal(err)
	}
	if got := am.get(); !slices.Equal(got, []int64{25, 25}) {
		t.Fatalf("control %v at volume 32768, want 25 (-22.5 dB)", got)
	}

	// -9 dB set elsewhere: 36/45 of the slider. The kernel queues our two
	// writes' events first (or merges them into this one): what arrives
	// first must be this change.
	am.set(70)
	if got := recv(t, ch); got != 52428 {
		t.Fatalf("reported %d after -9 dB was set elsewhere, want 52428", got)
	}
	// The reported volume coming back leaves the control as it is.
	if err := vs.SetVolume(52428); err != nil {
		t.Fatal(err)
	}
	if got := am.get(); !slices.Equal(got, []int64{70, 70}) {
		t.Fatalf("control %v after the reported volume came back, want 70 kept", got)
	}
	// Balance: the louder channel is the volume; then the bottom is 0.
	am.set(-50, 100)
	if got := recv(t, ch); got != 65535 {
		t.Fatalf("reported %d for channels at -45 and 0 dB, want 65535", got)
	}
	am.set(-50)
	if got := recv(t, ch); got != 0 {
		t.Fatalf("reported %d for the bottom, want 0", got)
	}
	cancel()
	for v := range ch {
		t.Errorf("reported %d after cancel", v)
	}
	if !strings.Contains(logs.String(), "from_db=-45 to_db=0") {
		t.Errorf("log does not say the dB range used:\n%s", logs.String())
	}
}

// TestKernelMixerLoopbackRawSteps uses a control without a dB description,
// snd-aloop's "PCM Rate Shift 100000" (80000..120000), which every
// harness kernel has: the volume maps onto the raw steps (logged once),
// and changes made elsewhere are reported, on each architecture's struct
// layout.
func TestKernelMixerLoopbackRawSteps(t *testing.T) {
	cards, err := os.ReadFile("/proc/asound/cards")
	if err != nil || !bytes.Contains(cards, []byte("[Loopback")) {
		testenv.Missing(t, "no snd-aloop Loopback card on this kernel (modprobe snd-aloop pcm_substreams=1): real-kernel test")
	}
	card, _ := cardIndex(t, "Loopback")
	const control = "PCM Rate Shift 100000"
	am := openAlsamixer(t, card, control)
	t.Cleanup(func() { am.set(100000) }) // the loopback tests need the normal rate
	am.set(100000)

	var logs bytes.Buffer
	si, err := New(Options{Device: "hw:Loopback,0", Mixer: control, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	vs := si.(*VolumeSink)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := vs.WatchVolume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := vs.SetVolume(65535); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.Open(cd); err != nil {
		t.Fatal(err)
	}
	defer vs.Close()
	if got := am.get(); got[0] != 120000 {
		t.Fatalf("control %v at volume 65535, want 120000", got)
	}
	// 10000 of 40000 steps: a quarter, the lowest volume that sets it.
	am.set(90000)
	if got := recv(t, ch); got != 16384 {
		t.Fatalf("reported %d after 90000 was set elsewhere, want 16384", got)
	}
	if err := vs.SetVolume(16384); err != nil {
		t.Fatal(err)
	}
	if got := am.get(); got[0] != 90000 {
		t.Fatalf("control %v after the reported volume came back, want 90000", got)
	}
	cancel()
	for v := range ch {
		t.Errorf("reported %d after cancel", v)
	}
	if n := strings.Count(logs.String(), "raw steps"); n != 1 {
		t.Errorf("%d log lines about raw steps, want 1:\n%s", n, logs.String())
	}
}

// TestKernelMixerUserDB runs the dB path on every architecture's kernel:
// snd-aloop has no dB-scaled control, so the test adds a user-defined one
// (as alsa-lib's softvol does) shaped like a Raspberry Pi's headphone
// volume, -102.39..+4 dB in 0.01 dB steps with a muted bottom, whose TLV
// the kernel serves through its callback path.
func TestKernelMixerUserDB(t *testing.T) {
	card, ok := cardIndex(t, "Loopback")
	if !ok {
		testenv.Missing(t, "no snd-aloop Loopback card on this kernel (modprobe snd-aloop pcm_substreams=1): real-kernel test")
	}
	admin, err := alsactl.Open(card)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	const element = "Speakerbox Test Playback Volume"
	id, err := admin.AddUserInteger(element, 2, -10239, 400, []uint32{tlvDBScale, 8, uint32(0xffffd801), tlvDBScaleMute | 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := admin.RemoveUser(id); err != nil {
			t.Error(err)
		}
	}()
	am := openAlsamixer(t, card, element)
	am.set(0)

	var logs bytes.Buffer
	si, err := New(Options{Device: "hw:Loopback,0", Mixer: "Speakerbox Test", Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	vs := si.(*VolumeSink)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := vs.WatchVolume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := vs.SetVolume(32768); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.Open(cd); err != nil {
		t.Fatal(err)
	}
	defer vs.Close()
	// 60 dB span below +4 dB: half way is -26 dB.
	if got := am.get(); !slices.Equal(got, []int64{-2600, -2600}) {
		t.Fatalf("control %v at volume 32768, want -2600 (-26 dB)", got)
	}
	am.set(-1000) // -10 dB: 46 of the 60 dB
	if got := recv(t, ch); got != 50244 {
		t.Fatalf("reported %d after -10 dB was set elsewhere, want 50244", got)
	}
	if err := vs.SetVolume(50244); err != nil {
		t.Fatal(err)
	}
	if got := am.get(); !slices.Equal(got, []int64{-1000, -1000}) {
		t.Fatalf("control %v after the reported volume came back, want -1000 kept", got)
	}
	if err := vs.SetVolume(65535); err != nil {
		t.Fatal(err)
	}
	am.set(-10239)
	if got := recv(t, ch); got != 0 {
		t.Fatalf("reported %d for the muted bottom, want 0", got)
	}
	cancel()
	for v := range ch {
		t.Errorf("reported %d after cancel", v)
	}
	if !strings.Contains(logs.String(), "from_db=-56 to_db=4") {
		t.Errorf("log does not say the dB range used:\n%s", logs.String())
	}
}

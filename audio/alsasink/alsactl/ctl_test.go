package alsactl

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"unsafe"

	"github.com/speakerbox/speakerbox/internal/testenv"
)

// The ioctl numbers as the kernel headers give them on each architecture
// (size field = sizeof the struct there). A layout mistake changes the
// number and the kernel answers ENOTTY.
func TestIoctlNumbersMatchTheKernelABI(t *testing.T) {
	want := map[string][4]uintptr{ // list, info, read, write
		"amd64": {0xc0505510, 0xc1105511, 0xc4c85512, 0xc4c85513},
		"arm64": {0xc0505510, 0xc1105511, 0xc4c85512, 0xc4c85513},
		"arm":   {0xc0485510, 0xc1105511, 0xc2c85512, 0xc2c85513},
		"386":   {0xc0485510, 0xc1105511, 0xc2c45512, 0xc2c45513},
	}
	w, ok := want[runtime.GOARCH]
	if !ok {
		testenv.Missing(t, "no reference ioctl numbers for GOARCH=%s: add them to this table", runtime.GOARCH)
	}
	got := [4]uintptr{ioctlElemList, ioctlElemInfo, ioctlElemRead, ioctlElemWrite}
	if got != w {
		t.Errorf("ioctl numbers %#x, want %#x", got, w)
	}
	// Same everywhere: an int and a struct of two unsigned ints.
	if ioctlSubscribeEvents != 0xc0045516 || ioctlTLVRead != 0xc008551a {
		t.Errorf("SUBSCRIBE_EVENTS %#x, TLV_READ %#x, want 0xc0045516, 0xc008551a", ioctlSubscribeEvents, ioctlTLVRead)
	}
	// snd_ctl_elem_info is 272 bytes and snd_ctl_elem_id 64 everywhere.
	if got := [4]uintptr{ioctlElemAdd, ioctlElemRemove, ioctlElemUnlock, ioctlTLVWrite}; got != [4]uintptr{0xc1105517, 0xc0405519, 0x40405515, 0xc008551b} {
		t.Errorf("ELEM_ADD, ELEM_REMOVE, ELEM_UNLOCK, TLV_WRITE = %#x", got)
	}
	wantValueOff := map[string]int{"amd64": 72, "arm64": 72, "arm": 72, "386": 68}[runtime.GOARCH]
	if valueOff != wantValueOff {
		t.Errorf("value union at %d, want %d", valueOff, wantValueOff)
	}
}

// fakeCard answers control ioctls like a card with two elements: a stereo
// integer volume and a boolean switch. It decodes the buffers at the
// offsets the kernel's structs have, written out here independently.
type fakeCard struct {
	t          *testing.T
	values     [2]int64
	reqs       []uintptr
	subscribed int32
	added      []byte   // the info of ELEM_ADD
	tlvWritten []uint32 // numid, length, words of TLV_WRITE
	unlocked   []uint32 // numids
	removed    []uint32 // numids
}

func (k *fakeCard) ioctl(_ uintptr, req uintptr, arg unsafe.Pointer) error {
	k.reqs = append(k.reqs, req)
	size := int(req>>16) & 0x3fff
	b := unsafe.Slice((*byte)(arg), size)
	ne := binary.NativeEndian
	long := int(unsafe.Sizeof(uintptr(0)))
	putID := func(dst []byte, numid uint32, name string) {
		ne.PutUint32(dst[0:], numid)
		ne.PutUint32(dst[4:], 2) // MIXER
		copy(dst[16:60], name)
	}
	switch req {
	case ioctlElemList:
		ne.PutUint32(b[12:], 2) // count
		space := ne.Uint32(b[4:])
		if space == 0 {
			return nil
		}
		// The pids field holds a C pointer to the caller's id array.
		p := *(*unsafe.Pointer)(unsafe.Pointer(&b[16]))
		ids := unsafe.Slice((*byte)(p), int(space)*64)
		putID(ids[0:], 1, "Master Playback Volume")
		if space > 1 {
			putID(ids[64:], 2, "Master Playback Switch")
		}
		ne.PutUint32(b[8:], min(space, 2))
	case ioctlElemInfo:
		switch ne.Uint32(b[0:]) {
		case 1:
			ne.PutUint32(b[64:], TypeInteger)
			ne.PutUint32(b[68:], AccessRead|AccessWrite|AccessTLVRead)
			ne.PutUint32(b[72:], 2)
			putLongAt(b, 80, -10239, long)
			putLongAt(b, 80+long, 400, long)
			putLongAt(b, 80+2*long, 1, long)
		case 2:
			ne.PutUint32(b[64:], TypeBoolean)
			ne.PutUint32(b[68:], AccessRead|AccessWrite)
			ne.PutUint32(b[72:], 2)
		default:
			return syscall.ENOENT
		}
	case ioctlElemRead, ioctlElemWrite:
		if ne.Uint32(b[0:]) != 1 {
			return syscall.ENOENT
		}
		off := map[string]int{"386": 68}[runtime.GOARCH]
		if off == 0 {
			off = 72
		}
		for i := range k.values {
			if req == ioctlElemRead {
				putLongAt(b, off+i*long, k.values[i], long)
			} else {
				k.values[i] = getLongAt(b, off+i*long, long)
			}
		}
	case ioctlSubscribeEvents:
		k.subscribed = int32(ne.Uint32(b[0:]))
	case ioctlTLVRead:
		// The size in the ioctl number covers the header only; the
		// caller's buffer holds length more bytes.
		numid, length := ne.Uint32(b[0:]), ne.Uint32(b[4:])
		if numid != 1 {
			return syscall.ENXIO
		}
		tlv := unsafe.Slice((*byte)(arg), 8+int(length))[8:]
		if length < 16 {
			return syscall.ENOMEM
		}
		// DB_SCALE: -102.39 dB, 0.01 dB steps, mute at the bottom.
		ne.PutUint32(tlv[0:], 1)
		ne.PutUint32(tlv[4:], 8)
		ne.PutUint32(tlv[8:], uint32(0xffffd801)) // -10239
		ne.PutUint32(tlv[12:], 0x10001)
	case ioctlElemAdd:
		k.added = append([]byte(nil), b...)
	case ioctlTLVWrite:
		length := ne.Uint32(b[4:])
		all := unsafe.Slice((*byte)(arg), 8+int(length))
		for i := 0; i < len(all); i += 4 {
			k.tlvWritten = append(k.tlvWritten, ne.Uint32(all[i:]))
		}
	case ioctlElemUnlock:
		k.unlocked = append(k.unlocked, ne.Uint32(b[0:]))
	case ioctlElemRemove:
		k.removed = append(k.removed, ne.Uint32(b[0:]))
	default:
		k.t.Fatalf("unexpected ioctl %#x", req)
	}
	return nil
}

func putLongAt(b []byte, off int, v int64, long int) {
	if long == 8 {
		binary.NativeEndian.PutUint64(b[off:], uint64(v))
	} else {
		binary.NativeEndian.PutUint32(b[off:], uint32(int32(v)))
	}
}

func getLongAt(b []byte, off int, long int) int64 {
	if long == 8 {
		return int64(binary.NativeEndian.Uint64(b[off:]))
	}
	return int64(int32(binary.NativeEndian.Uint32(b[off:])))
}

func TestListInfoReadWrite(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	card := &fakeCard{t: t, values: [2]int64{-500, -600}}
	c := &Ctl{f: f, ioctl: card.ioctl}
	defer c.Close()

	ids, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0].Name != "Master Playback Volume" || ids[1].Name != "Master Playback Switch" || ids[0].Numid != 1 || ids[0].Iface != 2 {
		t.Fatalf("List = %+v", ids)
	}
	info, err := c.Info(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != TypeInteger || info.Count != 2 || info.Min != -10239 || info.Max != 400 || info.Step != 1 || !info.Writable() {
		t.Errorf("Info = %+v", info)
	}
	if info2, _ := c.Info(ids[1]); info2.TypeName() != "BOOLEAN" {
		t.Errorf("switch type %s", info2.TypeName())
	}
	vals, err := c.ReadInts(ids[0], 2)
	if err != nil || vals[0] != -500 || vals[1] != -600 {
		t.Errorf("ReadInts = %v, %v", vals, err)
	}
	if err := c.WriteInts(ids[0], []int64{-2000, 123}); err != nil {
		t.Fatal(err)
	}
	if card.values != [2]int64{-2000, 123} {
		t.Errorf("card values %v after write", card.values)
	}
	if _, err := c.ReadInts(ID{Numid: 9, Name: "x"}, 1); err == nil {
		t.Error("read of a missing element succeeded")
	}
	if info.Access&AccessTLVRead == 0 {
		t.Fatal("the volume has no TLV access bit")
	}
	tlv, err := c.TLV(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(tlv) != 4 || tlv[0] != 1 || tlv[1] != 8 || int32(tlv[2]) != -10239 || tlv[3] != 0x10001 {
		t.Errorf("TLV = %#x", tlv)
	}
	if _, err := c.TLV(ID{Name: "no numid"}); err == nil {
		t.Error("TLV without a numid was asked of the kernel")
	}
	if _, err := c.TLV(ids[1]); !errors.Is(err, syscall.ENXIO) {
		t.Errorf("TLV of the switch: %v, want ENXIO", err)
	}
	if err := c.Subscribe(); err != nil || card.subscribed != 1 {
		t.Errorf("Subscribe: %v, flag %d", err, card.subscribed)
	}
}

// Events come from read(2) on the control device; a pipe stands in for it.
func TestReadEventsDecodesAndEndsOnClose(t *testing.T) {
	fds := openFDs(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	card := &fakeCard{t: t}
	c := &Ctl{f: r, ioctl: card.ioctl}
	// Subscribe swaps in a duplicate descriptor (see there); reads go
	// through it and Close releases both.
	if err := c.Subscribe(); err != nil || card.subscribed != 1 {
		t.Fatalf("Subscribe: %v", err)
	}
	if c.f == r {
		t.Fatal("Subscribe kept the descriptor registered before the subscription")
	}
	ev := func(mask, numid uint32, name string) []byte {
		b := make([]byte, 72)
		binary.NativeEndian.PutUint32(b[0:], 0) // ELEM
		binary.NativeEndian.PutUint32(b[4:], mask)
		binary.NativeEndian.PutUint32(b[8:], numid)
		binary.NativeEndian.PutUint32(b[12:], 2)
		copy(b[8+16:], name)
		binary.NativeEndian.PutUint32(b[8+60:], 3)
		return b
	}
	batch := append(ev(EventValue, 5, "Master Playback Volume"), ev(EventRemove, 6, "Other")...)
	if _, err := w.Write(batch); err != nil {
		t.Fatal(err)
	}
	buf := make([]Event, 4)
	n, err := c.ReadEvents(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{Type: EventElem, Mask: EventValue, ID: ID{Numid: 5, Iface: 2, Name: "Master Playback Volume", Index: 3}},
		{Type: EventElem, Mask: EventRemove, ID: ID{Numid: 6, Iface: 2, Name: "Other", Index: 3}},
	}
	if n != 2 || buf[0] != want[0] || buf[1] != want[1] {
		t.Fatalf("ReadEvents = %d %+v, want %+v", n, buf[:n], want)
	}

	// A reader waiting for events is ended by Close from elsewhere
	// (whether the read had started or not, it must return an error).
	done := make(chan error, 1)
	go func() {
		_, err := c.ReadEvents(buf)
		done <- err
	}()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Error("ReadEvents after Close succeeded")
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	w.Close()
	if n := openFDs(t); n != fds {
		t.Errorf("%d descriptors open after Close, %d before the pipe", n, fds)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

func TestDecodeEventsIgnoresAPartialEvent(t *testing.T) {
	out := make([]Event, 3)
	if n := decodeEvents(make([]byte, 72+40), out); n != 1 {
		t.Errorf("decoded %d events from 1.5", n)
	}
	if n := decodeEvents(make([]byte, 72*3), out[:2]); n != 2 {
		t.Errorf("decoded %d events into room for 2", n)
	}
}

// A user element is added with its range at the layout of
// snd_ctl_elem_info, found by its name (the fake card lists it as "Master
// Playback Volume", numid 1), given its TLV and unlocked for other handles.
func TestAddUserInteger(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	card := &fakeCard{t: t}
	c := &Ctl{f: f, ioctl: card.ioctl}
	defer c.Close()
	tlv := []uint32{1, 8, 0xffffd801, 0x10001}
	id, err := c.AddUserInteger("Master Playback Volume", 2, -10239, 400, tlv)
	if err != nil {
		t.Fatal(err)
	}
	if id.Numid != 1 {
		t.Errorf("id %+v", id)
	}
	b := card.added
	long := int(unsafe.Sizeof(uintptr(0)))
	if b == nil || ne.Uint32(b[4:]) != IfaceMixer || string(b[16:38]) != "Master Playback Volume" ||
		ne.Uint32(b[64:]) != TypeInteger || ne.Uint32(b[68:]) != AccessRead|AccessWrite|1<<5 || ne.Uint32(b[72:]) != 2 ||
		getLongAt(b, 80, long) != -10239 || getLongAt(b, 80+long, long) != 400 || getLongAt(b, 80+2*long, long) != 1 {
		t.Errorf("ELEM_ADD info % x", b[:80+3*long])
	}
	if want := append([]uint32{1, 16}, tlv...); !slices.Equal(card.tlvWritten, want) {
		t.Errorf("TLV_WRITE %#x, want %#x", card.tlvWritten, want)
	}
	if !slices.Equal(card.unlocked, []uint32{1}) {
		t.Errorf("unlocked %v", card.unlocked)
	}
	if err := c.RemoveUser(id); err != nil || !slices.Equal(card.removed, []uint32{1}) {
		t.Errorf("RemoveUser: %v, removed %v", err, card.removed)
	}
	if _, err := c.AddUserInteger("Not Listed", 1, 0, 1, nil); err == nil {
		t.Error("an element the card does not list afterwards was taken as added")
	}
}

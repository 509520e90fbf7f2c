package alsactl

import (
	"encoding/binary"
	"os"
	"runtime"
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
	wantValueOff := map[string]int{"amd64": 72, "arm64": 72, "arm": 72, "386": 68}[runtime.GOARCH]
	if valueOff != wantValueOff {
		t.Errorf("value union at %d, want %d", valueOff, wantValueOff)
	}
}

// fakeCard answers control ioctls like a card with two elements: a stereo
// integer volume and a boolean switch. It decodes the buffers at the
// offsets the kernel's structs have, written out here independently.
type fakeCard struct {
	t      *testing.T
	values [2]int64
	reqs   []uintptr
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
			ne.PutUint32(b[68:], AccessRead|AccessWrite)
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
}

package alsactl

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctler is the one system call the control device needs; tests replace it
// to check what goes over the boundary.
type ioctler func(fd uintptr, req uintptr, arg unsafe.Pointer) error

func sysIoctl(fd uintptr, req uintptr, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, fd, req, uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}

// Ctl is an open control device of one card.
type Ctl struct {
	f     *os.File
	ioctl ioctler
}

// Open opens /dev/snd/controlC<card>.
func Open(card int) (*Ctl, error) {
	path := fmt.Sprintf("/dev/snd/controlC%d", card)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open ALSA control device: %w", err)
	}
	return &Ctl{f: f, ioctl: sysIoctl}, nil
}

// Close releases the device.
func (c *Ctl) Close() error {
	if c == nil || c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}

func (c *Ctl) do(req uintptr, buf []byte) error {
	err := c.ioctl(c.f.Fd(), req, unsafe.Pointer(&buf[0]))
	runtime.KeepAlive(buf)
	return err
}

// List returns the ids of every element of the card.
func (c *Ctl) List() ([]ID, error) {
	var list [listSize]byte
	if err := c.do(ioctlElemList, list[:]); err != nil {
		return nil, fmt.Errorf("list ALSA controls: %w", err)
	}
	count := ne.Uint32(list[12:])
	if count == 0 {
		return nil, nil
	}
	if count > 4096 { // no card has that many; refuse to allocate on garbage
		return nil, fmt.Errorf("list ALSA controls: implausible count %d", count)
	}
	ids := make([]byte, int(count)*idSize)
	ne.PutUint32(list[0:], 0)     // offset
	ne.PutUint32(list[4:], count) // space
	putPtr(list[listPidsOff:], unsafe.Pointer(&ids[0]))
	err := c.do(ioctlElemList, list[:])
	runtime.KeepAlive(ids)
	if err != nil {
		return nil, fmt.Errorf("list ALSA controls: %w", err)
	}
	used := min(ne.Uint32(list[8:]), count)
	out := make([]ID, used)
	for i := range out {
		out[i] = getID(ids[i*idSize:])
	}
	return out, nil
}

// putPtr stores a pointer in a C pointer field. The buffer it points into
// is kept alive by the caller for the duration of the ioctl.
func putPtr(b []byte, p unsafe.Pointer) {
	if word == 8 {
		ne.PutUint64(b, uint64(uintptr(p)))
		return
	}
	ne.PutUint32(b, uint32(uintptr(p)))
}

// Info describes one element.
type Info struct {
	ID     ID
	Type   int32
	Access uint32
	Count  uint32
	// Min, Max and Step are set for integer and 64-bit integer elements.
	Min, Max, Step int64
}

// Writable reports whether the element can be written.
func (i Info) Writable() bool { return i.Access&AccessWrite != 0 }

// TypeName is the element type as amixer prints it.
func (i Info) TypeName() string {
	switch i.Type {
	case TypeBoolean:
		return "BOOLEAN"
	case TypeInteger:
		return "INTEGER"
	case TypeEnumerated:
		return "ENUMERATED"
	case TypeBytes:
		return "BYTES"
	case TypeIEC958:
		return "IEC958"
	case TypeInteger64:
		return "INTEGER64"
	}
	return fmt.Sprintf("type#%d", i.Type)
}

// Info reads the description of an element.
func (c *Ctl) Info(id ID) (Info, error) {
	var b [infoSize]byte
	id.put(b[:])
	if err := c.do(ioctlElemInfo, b[:]); err != nil {
		return Info{}, fmt.Errorf("read info of ALSA control %q: %w", id.Name, err)
	}
	return decodeInfo(b[:]), nil
}

func decodeInfo(b []byte) Info {
	in := Info{
		ID:     getID(b),
		Type:   int32(ne.Uint32(b[infoTypeOff:])),
		Access: ne.Uint32(b[infoAccessOff:]),
		Count:  ne.Uint32(b[infoCountOff:]),
	}
	switch in.Type {
	case TypeInteger:
		in.Min = getLong(b, infoValueOff)
		in.Max = getLong(b, infoValueOff+word)
		in.Step = getLong(b, infoValueOff+2*word)
	case TypeInteger64:
		in.Min = int64(ne.Uint64(b[infoValueOff:]))
		in.Max = int64(ne.Uint64(b[infoValueOff+8:]))
		in.Step = int64(ne.Uint64(b[infoValueOff+16:]))
	}
	return in
}

// maxValues is how many values the value union holds (long value[128]).
const maxValues = 128

// ReadInts reads the first n values of an integer element.
func (c *Ctl) ReadInts(id ID, n int) ([]int64, error) {
	if n < 0 || n > maxValues {
		return nil, fmt.Errorf("read ALSA control %q: %d values out of range", id.Name, n)
	}
	var b [valueSize]byte
	id.put(b[:])
	if err := c.do(ioctlElemRead, b[:]); err != nil {
		return nil, fmt.Errorf("read ALSA control %q: %w", id.Name, err)
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = getLong(b[:], valueOff+i*word)
	}
	return out, nil
}

// WriteInts sets the values of an integer element.
func (c *Ctl) WriteInts(id ID, vals []int64) error {
	if len(vals) > maxValues {
		return fmt.Errorf("write ALSA control %q: %d values out of range", id.Name, len(vals))
	}
	var b [valueSize]byte
	id.put(b[:])
	for i, v := range vals {
		putLong(b[:], valueOff+i*word, v)
	}
	if err := c.do(ioctlElemWrite, b[:]); err != nil {
		return fmt.Errorf("write ALSA control %q: %w", id.Name, err)
	}
	return nil
}

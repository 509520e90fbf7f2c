package alsactl

import (
	"errors"
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

// Ctl is an open control device of one card. Close may be called from
// another goroutine to end a ReadEvents that waits; the other methods are
// for one goroutine at a time.
type Ctl struct {
	f     *os.File
	ioctl ioctler
	ev    [eventBatch * eventSize]byte
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

// Close releases the device. A second Close does nothing.
func (c *Ctl) Close() error {
	if c == nil || c.f == nil {
		return nil
	}
	if err := c.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

// do runs one ioctl. It goes through SyscallConn rather than Fd: Fd would
// switch the descriptor to blocking mode (ReadEvents could then not be
// ended by Close), and Control keeps a concurrent Close from releasing the
// descriptor while the ioctl runs.
func (c *Ctl) do(req uintptr, buf []byte) error {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		ierr = c.ioctl(fd, req, unsafe.Pointer(&buf[0]))
	}); err != nil {
		return err
	}
	runtime.KeepAlive(buf)
	return ierr
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

// maxTLV bounds the TLV data read from the kernel. Real dB descriptions are
// a few dozen bytes (a DB_RANGE of a dozen pieces is under 300).
const maxTLV = 4096

// TLV reads the element's TLV data (its dB description, for volumes): the
// words of one TLV, type, length in bytes and payload. Call it only for an
// element whose Info has AccessTLVRead; the kernel answers ENXIO otherwise.
func (c *Ctl) TLV(id ID) ([]uint32, error) {
	if id.Numid == 0 {
		return nil, fmt.Errorf("read TLV of ALSA control %q: no numid", id.Name)
	}
	// struct snd_ctl_tlv: numid, length (of the tlv array, in bytes),
	// then the array itself.
	b := make([]byte, tlvHeader+maxTLV)
	ne.PutUint32(b[0:], id.Numid)
	ne.PutUint32(b[4:], maxTLV)
	if err := c.do(ioctlTLVRead, b); err != nil {
		return nil, fmt.Errorf("read TLV of ALSA control %q: %w", id.Name, err)
	}
	data := b[tlvHeader:]
	n := ne.Uint32(data[4:])
	if n > maxTLV-8 {
		return nil, fmt.Errorf("read TLV of ALSA control %q: length %d does not fit in %d bytes", id.Name, n, maxTLV)
	}
	words := make([]uint32, 2+(n+3)/4)
	for i := range words {
		words[i] = ne.Uint32(data[4*i:])
	}
	return words, nil
}

// Subscribe asks the kernel to queue an event for every change of an
// element of the card, for ReadEvents. Call it before ReadEvents, and not
// while another goroutine uses the Ctl.
func (c *Ctl) Subscribe() error {
	var b [4]byte
	ne.PutUint32(b[:], 1)
	if err := c.do(ioctlSubscribeEvents, b[:]); err != nil {
		return fmt.Errorf("subscribe to ALSA control events: %w", err)
	}
	// The control device's poll reports nothing, and registers no waiter,
	// until the file is subscribed. Go registered the descriptor with its
	// poller when it was opened, so a ReadEvents waiting on it would never
	// wake. A duplicate descriptor (the same open file, now subscribed),
	// registered from here on, does.
	rc, err := c.f.SyscallConn()
	if err != nil {
		return fmt.Errorf("subscribe to ALSA control events: %w", err)
	}
	nfd, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return fmt.Errorf("subscribe to ALSA control events: %w", err)
	}
	if derr != nil {
		return fmt.Errorf("subscribe to ALSA control events: duplicate descriptor: %w", derr)
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		_ = unix.Close(nfd)
		return fmt.Errorf("subscribe to ALSA control events: %w", err)
	}
	old := c.f
	c.f = os.NewFile(uintptr(nfd), old.Name())
	_ = old.Close()
	return nil
}

// Event is one element event (struct snd_ctl_event of type ELEM).
type Event struct {
	Type int32
	// Mask says what changed: EventValue, EventInfo, EventAdd, EventTLV,
	// or EventRemove (all bits) when the element went away.
	Mask uint32
	ID   ID
}

// Event types and mask bits.
const (
	EventElem   = 0
	EventValue  = 1 << 0
	EventInfo   = 1 << 1
	EventAdd    = 1 << 2
	EventTLV    = 1 << 3
	EventRemove = ^uint32(0)
)

// ReadEvents waits for events (after Subscribe) and fills buf with up to
// len(buf) of them. It returns an error when the card goes away or when
// the device is closed, from any goroutine.
func (c *Ctl) ReadEvents(buf []Event) (int, error) {
	k := min(len(buf), eventBatch)
	if k == 0 {
		return 0, nil
	}
	n, err := c.f.Read(c.ev[:k*eventSize])
	if err != nil {
		return 0, fmt.Errorf("read ALSA control events: %w", err)
	}
	return decodeEvents(c.ev[:n], buf), nil
}

// decodeEvents decodes whole events from b into out (a partial trailing
// event, which the kernel never sends, is ignored).
func decodeEvents(b []byte, out []Event) int {
	n := 0
	for ; n < len(out) && len(b) >= eventSize; n++ {
		out[n] = Event{
			Type: int32(ne.Uint32(b[0:])),
			Mask: ne.Uint32(b[4:]),
			ID:   getID(b[8:]),
		}
		b = b[eventSize:]
	}
	return n
}

// AddUserInteger adds a user-defined integer element to the card, the kind
// alsa-lib's softvol plugin creates: count channels in min..max, which any
// handle may read and write, with the TLV tlv (a dB description; nil for
// none). It stays until RemoveUser or until the card goes away. The
// real-kernel tests use it for a volume with a dB scale on snd-aloop,
// which has none of its own.
func (c *Ctl) AddUserInteger(name string, count int, min, max int64, tlv []uint32) (ID, error) {
	fail := func(err error) (ID, error) {
		return ID{}, fmt.Errorf("add ALSA control %q: %w", name, err)
	}
	if count < 1 || count > maxValues || len(name) >= nameSize {
		return fail(errors.New("bad count or name"))
	}
	var b [infoSize]byte
	ID{Iface: IfaceMixer, Name: name}.put(b[:])
	access := uint32(AccessRead | AccessWrite)
	if tlv != nil {
		access |= accessTLVWrite
	}
	ne.PutUint32(b[infoTypeOff:], TypeInteger)
	ne.PutUint32(b[infoAccessOff:], access)
	ne.PutUint32(b[infoCountOff:], uint32(count))
	putLong(b[:], infoValueOff, min)
	putLong(b[:], infoValueOff+word, max)
	putLong(b[:], infoValueOff+2*word, 1)
	if err := c.do(ioctlElemAdd, b[:]); err != nil {
		return fail(err)
	}
	ids, err := c.List()
	if err != nil {
		return fail(err)
	}
	var id ID
	for _, x := range ids {
		if x.Name == name && x.Iface == IfaceMixer {
			id = x
		}
	}
	if id.Numid == 0 {
		_ = c.RemoveUser(ID{Iface: IfaceMixer, Name: name}) // by name, then
		return fail(errors.New("not listed after it was added"))
	}
	if tlv != nil {
		t := make([]byte, tlvHeader+4*len(tlv))
		ne.PutUint32(t[0:], id.Numid)
		ne.PutUint32(t[4:], uint32(4*len(tlv)))
		for i, w := range tlv {
			ne.PutUint32(t[tlvHeader+4*i:], w)
		}
		if err := c.do(ioctlTLVWrite, t); err != nil {
			_ = c.RemoveUser(id)
			return fail(fmt.Errorf("write TLV: %w", err))
		}
	}
	// The kernel locks a new user element to the handle that added it;
	// other programs must be able to write it.
	var ib [idSize]byte
	id.put(ib[:])
	if err := c.do(ioctlElemUnlock, ib[:]); err != nil {
		_ = c.RemoveUser(id)
		return fail(fmt.Errorf("unlock: %w", err))
	}
	return id, nil
}

// RemoveUser removes a user-defined element.
func (c *Ctl) RemoveUser(id ID) error {
	var b [idSize]byte
	id.put(b[:])
	if err := c.do(ioctlElemRemove, b[:]); err != nil {
		return fmt.Errorf("remove ALSA control %q: %w", id.Name, err)
	}
	return nil
}

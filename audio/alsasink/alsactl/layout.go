// Package alsactl speaks the ALSA control-device ioctls (/dev/snd/controlC*)
// that a hardware volume needs: list the elements, read their info, read
// and write integer values. It is cgo-free and lays the kernel structs out
// by hand, because their sizes and offsets differ between architectures in
// ways Go structs get wrong: snd_ctl_elem_value's value union holds
// 'long long', which ARM EABI aligns to 8 bytes (union at offset 72, struct
// 712 bytes) while i386 aligns it to 4 (offset 68, 708 bytes), and its
// 'long value[128]' is 512 bytes on 32-bit but 1024 on 64-bit. The ioctl
// number encodes the struct size, so a wrong layout fails with ENOTTY.
package alsactl

import (
	"encoding/binary"
	"unsafe"
)

// word is the size of C long and of a pointer on this architecture.
const word = int(unsafe.Sizeof(uintptr(0)))

const (
	idSize   = 64 // struct snd_ctl_elem_id
	nameSize = 44 // SNDRV_CTL_ELEM_ID_NAME_MAXLEN

	// struct snd_ctl_elem_list: offset, space, used, count, pids pointer,
	// reserved[50], padded to the pointer's alignment.
	listPidsOff = 16
	listSize    = (listPidsOff + word + 50 + word - 1) / word * word

	// struct snd_ctl_elem_info: id, type, access, count, owner, then a
	// 128-byte union at offset 80 (already 8-aligned on every arch) and
	// reserved[64].
	infoTypeOff   = 64
	infoAccessOff = 68
	infoCountOff  = 72
	infoValueOff  = 80
	infoSize      = infoValueOff + 128 + 64

	// struct snd_ctl_elem_value: id, indirect:1 (an unsigned int), the
	// value union (long[128]) and reserved[128].
	valueOff  = 64 + 4 + valuePad
	valueSize = valueOff + 128*word + 128

	// struct snd_ctl_tlv: numid, length, then the flexible tlv array,
	// which the ioctl number's size leaves out.
	tlvHeader = 8

	// struct snd_ctl_event: type, then a union whose elem member (mask and
	// an id) is its largest: 4 + 4 + 64 bytes, all 4-aligned, on every
	// architecture.
	eventSize = 72
	// eventBatch is how many events one read takes at most.
	eventBatch = 16
)

// Element types (snd_ctl_elem_type_t).
const (
	TypeBoolean    = 1
	TypeInteger    = 2
	TypeEnumerated = 3
	TypeBytes      = 4
	TypeIEC958     = 5
	TypeInteger64  = 6
)

// Access bits.
const (
	AccessRead     = 1 << 0
	AccessWrite    = 1 << 1
	AccessTLVRead  = 1 << 4
	accessTLVWrite = 1 << 5
)

// IfaceMixer is the interface of mixer elements (SNDRV_CTL_ELEM_IFACE_MIXER).
const IfaceMixer = 2

// ioctl numbers: _IOWR('U', nr, size).
func iowr(nr, size int) uintptr {
	return 3<<30 | uintptr(size)<<16 | 'U'<<8 | uintptr(nr)
}

var (
	ioctlElemList  = iowr(0x10, listSize)
	ioctlElemInfo  = iowr(0x11, infoSize)
	ioctlElemRead  = iowr(0x12, valueSize)
	ioctlElemWrite = iowr(0x13, valueSize)
	// SNDRV_CTL_IOCTL_SUBSCRIBE_EVENTS takes an int.
	ioctlSubscribeEvents = iowr(0x16, 4)
	ioctlTLVRead         = iowr(0x1a, tlvHeader)
	ioctlTLVWrite        = iowr(0x1b, tlvHeader)
	ioctlElemAdd         = iowr(0x17, infoSize)
	ioctlElemRemove      = iowr(0x19, idSize)
	ioctlElemUnlock      = uintptr(1<<30 | idSize<<16 | 'U'<<8 | 0x15) // _IOW
)

var ne = binary.NativeEndian

// ID names one control element.
type ID struct {
	Numid     uint32
	Iface     int32
	Device    uint32
	Subdevice uint32
	Name      string
	Index     uint32
}

func (id ID) put(b []byte) {
	ne.PutUint32(b[0:], id.Numid)
	ne.PutUint32(b[4:], uint32(id.Iface))
	ne.PutUint32(b[8:], id.Device)
	ne.PutUint32(b[12:], id.Subdevice)
	clear(b[16 : 16+nameSize])
	copy(b[16:16+nameSize-1], id.Name)
	ne.PutUint32(b[60:], id.Index)
}

func getID(b []byte) ID {
	name := b[16 : 16+nameSize]
	for i, c := range name {
		if c == 0 {
			name = name[:i]
			break
		}
	}
	return ID{
		Numid:     ne.Uint32(b[0:]),
		Iface:     int32(ne.Uint32(b[4:])),
		Device:    ne.Uint32(b[8:]),
		Subdevice: ne.Uint32(b[12:]),
		Name:      string(name),
		Index:     ne.Uint32(b[60:]),
	}
}

// getLong reads a C long at off.
func getLong(b []byte, off int) int64 {
	if word == 8 {
		return int64(ne.Uint64(b[off:]))
	}
	return int64(int32(ne.Uint32(b[off:])))
}

func putLong(b []byte, off int, v int64) {
	if word == 8 {
		ne.PutUint64(b[off:], uint64(v))
		return
	}
	ne.PutUint32(b[off:], uint32(int32(v)))
}

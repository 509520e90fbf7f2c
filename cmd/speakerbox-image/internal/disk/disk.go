// Package disk lays out the Speakerbox card and writes its MBR partition
// table in Go, so that building an image needs no sfdisk and no loop
// devices: the file systems are made as separate files and copied in at
// their offsets.
package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

const (
	// SectorSize is the only sector size an SD card has.
	SectorSize = 512
	// Align is where the first partition starts and what every partition
	// start and size is a multiple of: 4 MiB, the erase-block boundary
	// of common SD cards (and where gokrazy and Raspberry Pi OS start too).
	Align = 4 << 20
)

// MBR partition types the card uses.
const (
	TypeFAT32LBA = 0x0c // what the Pi's boot ROM and firmware look for
	TypeLinux    = 0x83
)

// Partition is one primary partition, in bytes.
type Partition struct {
	Name     string
	Type     byte
	Bootable bool
	Start    int64
	Size     int64
}

// Layout is the card: its total size and four partitions.
type Layout struct {
	Size  int64
	Parts []Partition
}

// Sizes asks for the card's partitions, in bytes. Each is rounded up to
// Align.
type Sizes struct {
	Boot int64 // FAT: firmware, kernel, initramfs, device trees, config
	Root int64 // each of the two root slots (A holds the squashfs, B is empty)
	Data int64 // ext4 at the state directory; at least this, it takes what the power of two leaves
}

// Plan lays the partitions out one after the other from Align and makes
// the card the next power of two (QEMU's raspi machines take no other SD
// size, and a real card is bigger anyway: the data partition could grow
// into the rest later). The data partition gets what remains.
func Plan(s Sizes) (Layout, error) {
	if s.Boot <= 0 || s.Root <= 0 || s.Data <= 0 {
		return Layout{}, fmt.Errorf("partition sizes must be positive, got boot %d, root %d, data %d", s.Boot, s.Root, s.Data)
	}
	up := func(n int64) int64 { return (n + Align - 1) / Align * Align }
	boot, root, data := up(s.Boot), up(s.Root), up(s.Data)
	min := Align + boot + 2*root + data
	total := int64(1) << (64 - bits.LeadingZeros64(uint64(min-1)))
	if total > 1<<41 { // the MBR counts 32-bit sectors: 2 TiB
		return Layout{}, fmt.Errorf("card of %d bytes is beyond what an MBR can describe", total)
	}
	var l Layout
	l.Size = total
	at := int64(Align)
	for _, p := range []Partition{
		{Name: "boot", Type: TypeFAT32LBA, Bootable: true, Size: boot},
		{Name: "root-a", Type: TypeLinux, Size: root},
		{Name: "root-b", Type: TypeLinux, Size: root},
		{Name: "data", Type: TypeLinux, Size: total - at - boot - 2*root},
	} {
		p.Start = at
		at += p.Size
		l.Parts = append(l.Parts, p)
	}
	return l, nil
}

// MBR returns the 512-byte master boot record of the layout with the
// given disk signature (cmdline.txt can name partitions by it:
// PARTUUID=<signature>-02).
func (l Layout) MBR(signature uint32) ([SectorSize]byte, error) {
	var b [SectorSize]byte
	if len(l.Parts) > 4 {
		return b, fmt.Errorf("an MBR holds 4 primary partitions, the layout has %d", len(l.Parts))
	}
	binary.LittleEndian.PutUint32(b[440:], signature)
	for i, p := range l.Parts {
		if p.Start%SectorSize != 0 || p.Size%SectorSize != 0 || p.Size <= 0 {
			return b, fmt.Errorf("partition %s: start %d and size %d must be positive whole sectors", p.Name, p.Start, p.Size)
		}
		if p.Start+p.Size > l.Size {
			return b, fmt.Errorf("partition %s ends at %d, beyond the card's %d bytes", p.Name, p.Start+p.Size, l.Size)
		}
		e := b[446+16*i : 446+16*(i+1)]
		if p.Bootable {
			e[0] = 0x80
		}
		// CHS fields: every modern reader uses the LBA ones; the usual
		// "beyond CHS" value 1023/254/63 says so.
		copy(e[1:4], []byte{0xfe, 0xff, 0xff})
		e[4] = p.Type
		copy(e[5:8], []byte{0xfe, 0xff, 0xff})
		binary.LittleEndian.PutUint32(e[8:], uint32(p.Start/SectorSize))
		binary.LittleEndian.PutUint32(e[12:], uint32(p.Size/SectorSize))
	}
	b[510], b[511] = 0x55, 0xaa
	return b, nil
}

// Entry is one partition read back from an MBR.
type Entry struct {
	Bootable    bool
	Type        byte
	StartSector uint32
	Sectors     uint32
}

// ParseMBR reads the partition table of a 512-byte MBR. Empty slots are
// left out. It is what a reader of the card sees, so tests compare it with
// the layout.
func ParseMBR(b []byte) (signature uint32, entries []Entry, err error) {
	if len(b) < SectorSize {
		return 0, nil, fmt.Errorf("MBR: %d bytes, want %d", len(b), SectorSize)
	}
	if b[510] != 0x55 || b[511] != 0xaa {
		return 0, nil, errors.New("MBR: no 55 AA boot signature")
	}
	for i := 0; i < 4; i++ {
		e := b[446+16*i : 446+16*(i+1)]
		if e[4] == 0 {
			continue
		}
		if e[0] != 0 && e[0] != 0x80 {
			return 0, nil, fmt.Errorf("MBR: partition %d has status byte %#x", i+1, e[0])
		}
		entries = append(entries, Entry{Bootable: e[0] == 0x80, Type: e[4],
			StartSector: binary.LittleEndian.Uint32(e[8:]), Sectors: binary.LittleEndian.Uint32(e[12:])})
	}
	return binary.LittleEndian.Uint32(b[440:]), entries, nil
}

// Write writes the card to w (a file of the layout's size): the MBR, then
// each partition's content from contents (by name; a missing name or a nil
// reader leaves the partition zero, which a fresh file already is). A
// content larger than its partition is an error, not a truncation.
func (l Layout) Write(w io.WriterAt, signature uint32, contents map[string]io.Reader) error {
	mbr, err := l.MBR(signature)
	if err != nil {
		return err
	}
	if _, err := w.WriteAt(mbr[:], 0); err != nil {
		return fmt.Errorf("write MBR: %w", err)
	}
	for _, p := range l.Parts {
		r := contents[p.Name]
		if r == nil {
			continue
		}
		n, err := io.Copy(io.NewOffsetWriter(w, p.Start), io.LimitReader(r, p.Size+1))
		if err != nil {
			return fmt.Errorf("write partition %s: %w", p.Name, err)
		}
		if n > p.Size {
			return fmt.Errorf("partition %s: content is larger than its %d MiB", p.Name, p.Size>>20)
		}
	}
	return nil
}

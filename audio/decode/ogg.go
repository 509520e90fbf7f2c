package decode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Ogg framing (RFC 3533), read by us rather than by jfreymuth/oggvorbis:
// its Reader allocates per page, and adds a pass over every decoded sample;
// feeding jfreymuth/vorbis's Decoder packets directly saves about 5 % of
// decode time and every per-page allocation.

const (
	pageHeaderSize = 27
	flagContinued  = 1
	flagEOS        = 4
	// maxPacket bounds a packet spread over many pages, so a damaged
	// stream cannot make us collect a whole large file. Audio packets are
	// a few KB; the comment header can carry cover art of a few MB.
	maxPacket = 16 << 20
)

// crcTable is the Ogg CRC-32 (polynomial 0x04c11db7, MSB first, no
// reflection: not hash/crc32's). Read-only after package initialisation.
var crcTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

func crcUpdate(crc uint32, b []byte) uint32 {
	for _, x := range b {
		crc = crc<<8 ^ crcTable[byte(crc>>24)^x]
	}
	return crc
}

// errNoPage marks bytes that are not an Ogg page header: the seek's
// search for a page treats them as a false start, not a failure.
var errNoPage = errors.New("ogg: not a page")

var errNoCapture = fmt.Errorf("%w: missing capture pattern", errNoPage)

// pageHead is the fixed part of an Ogg page and its lacing values.
type pageHead struct {
	raw     [pageHeaderSize]byte
	lace    [255]byte
	nseg    int
	flags   byte
	granule int64
	serial  uint32
	body    int // body length
}

// readHead reads a page header and its lacing values from r.
func (h *pageHead) readHead(r io.Reader) error {
	if _, err := io.ReadFull(r, h.raw[:]); err != nil {
		return noEOF(err)
	}
	if string(h.raw[:4]) != "OggS" {
		return errNoCapture
	}
	if h.raw[4] != 0 {
		return fmt.Errorf("%w: unsupported version %d", errNoPage, h.raw[4])
	}
	h.flags = h.raw[5]
	h.granule = int64(binary.LittleEndian.Uint64(h.raw[6:]))
	h.serial = binary.LittleEndian.Uint32(h.raw[14:])
	h.nseg = int(h.raw[26])
	if _, err := io.ReadFull(r, h.lace[:h.nseg]); err != nil {
		return noEOF(err)
	}
	h.body = 0
	for _, l := range h.lace[:h.nseg] {
		h.body += int(l)
	}
	return nil
}

// checksumOK reports whether the page's checksum matches its header and
// body. It zeroes the checksum field of raw.
func (h *pageHead) checksumOK(body []byte) bool {
	want := binary.LittleEndian.Uint32(h.raw[22:])
	clear(h.raw[22:26])
	crc := crcUpdate(0, h.raw[:])
	crc = crcUpdate(crc, h.lace[:h.nseg])
	return crcUpdate(crc, body) == want
}

// complete is the number of packets that end on the page.
func (h *pageHead) complete() int {
	n := 0
	for _, l := range h.lace[:h.nseg] {
		if l < 255 {
			n++
		}
	}
	return n
}

// startsPacket reports whether a packet both starts and ends on the page,
// so decoding can restart there.
func (h *pageHead) startsPacket() bool {
	c := h.complete()
	if h.flags&flagContinued != 0 {
		return c >= 2
	}
	return c >= 1
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// packetReader hands out the packets of one logical Ogg stream in order.
// A returned packet is valid until the next call. It allocates nothing
// once its buffers have grown to the stream's largest page and packet.
type packetReader struct {
	r      io.Reader
	page   pageHead
	body   []byte
	seg    int // next lacing value of page
	off    int // body offset of that segment
	last   int // index of the last lacing value that ends a packet, -1: none
	loaded bool
	serial uint32
	carry  []byte // a packet begun on an earlier page
	// fresh: no page read since reset; a continued packet at the first
	// page is the tail of one we did not see, and is dropped.
	fresh, dropping bool
}

// reset makes the next page read start a new packet sequence (after the
// underlying reader was moved to a page boundary).
func (p *packetReader) reset() {
	p.loaded = false
	p.carry = p.carry[:0]
	p.fresh, p.dropping = true, false
}

func (p *packetReader) readPage() error {
	h := &p.page
	if err := h.readHead(p.r); err != nil {
		return err
	}
	if cap(p.body) < h.body {
		p.body = make([]byte, h.body, 255*255)
	}
	p.body = p.body[:h.body]
	if _, err := io.ReadFull(p.r, p.body); err != nil {
		return noEOF(err)
	}
	if !h.checksumOK(p.body) {
		return errors.New("ogg: page checksum mismatch")
	}
	if p.serial != h.serial {
		return errors.New("ogg: page of another logical stream (chained or multiplexed streams are not supported)")
	}
	cont := h.flags&flagContinued != 0
	switch {
	case p.fresh:
		p.dropping = cont
	case cont != (len(p.carry) > 0):
		return errors.New("ogg: page continuation flag does not match the packet sequence")
	}
	p.fresh = false
	p.seg, p.off, p.loaded = 0, 0, true
	p.last = -1
	for i, l := range h.lace[:h.nseg] {
		if l < 255 {
			p.last = i
		}
	}
	return nil
}

// next returns the next packet; endsPage reports that it is the last packet
// completed on its page, whose granule position then applies to it.
func (p *packetReader) next() (pkt []byte, endsPage bool, err error) {
	for {
		if !p.loaded || p.seg == p.page.nseg {
			if p.loaded && p.page.flags&flagEOS != 0 {
				return nil, false, io.EOF
			}
			if err := p.readPage(); err != nil {
				return nil, false, err
			}
		}
		start := p.off
		done := false
		for p.seg < p.page.nseg && !done {
			l := p.page.lace[p.seg]
			p.seg++
			p.off += int(l)
			done = l < 255
		}
		data := p.body[start:p.off]
		if !done {
			if !p.dropping {
				if len(p.carry)+len(data) > maxPacket {
					return nil, false, errors.New("ogg: packet larger than 16 MB")
				}
				p.carry = append(p.carry, data...)
			}
			continue
		}
		if p.dropping {
			p.dropping = false
			continue
		}
		if len(p.carry) > 0 {
			data = append(p.carry, data...)
			p.carry = data[:0]
		}
		return data, p.seg-1 == p.last, nil
	}
}

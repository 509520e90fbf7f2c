package spotifyhdr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
)

// The header is one Ogg page (27 header bytes, one lacing value of 139)
// carrying one packet that is not Vorbis: a marker byte 0x81, then
// segments, each a little-endian uint16 length N and N bytes, the first of
// which is the segment's type. Spotify's files carry, in this order:
//
//	type 0, N=110: uint32 frames, uint32 bytes, uint8 bias, 100 × uint8 steps
//	type 1, N=17:  four float32 (the Normalisation; at file byte 144)
//	type 2, N=5:   int32 -1
//
// All integers are little-endian. The seek table is coded as indexes into
// stepSizes: point k is the sum of stepSizes[steps[0..k]] minus
// stepSizes[bias], in 1/65536 of the byte count, and stands for the byte
// offset, in the Ogg stream after this page, of (k+1) % of the frames
// (facts read from go-librespot v0.7.4's vorbis/metadata.go, which
// interpolates that way; Spotify does not document the format. Whether
// point k is k % or (k+1) % is not certain: reading it as (k+1) % makes a
// wrong guess land early, which the decoder corrects by reading forward).
const (
	pageHeaderLen  = 27
	packetMarker   = 0x81
	segSeekTable   = 0
	segReplayGain  = 1
	segMinusOne    = 2
	seekPoints     = 100
	seekSegmentLen = 1 + 4 + 4 + 1 + seekPoints
	packetLen      = 1 + (2 + seekSegmentLen) + (2 + 17) + (2 + 5)
)

// stepSizes is Spotify's table of step sizes for the coded seek table: a
// protocol constant (the same in every file), finer around the 1/100 of
// the file a step usually spans.
var stepSizes = [256]uint16{
	0, 112, 197, 327, 374, 394, 407, 417, 425, 433, 439, 444, 449, 454, 458, 462,
	466, 470, 473, 477, 480, 483, 486, 489, 491, 494, 497, 499, 502, 504, 506, 509,
	511, 513, 515, 517, 519, 521, 523, 525, 527, 529, 531, 533, 535, 537, 538, 540,
	542, 544, 545, 547, 549, 550, 552, 554, 555, 557, 558, 560, 562, 563, 565, 566,
	568, 569, 571, 572, 574, 575, 577, 578, 580, 581, 583, 584, 585, 587, 588, 590,
	591, 593, 594, 595, 597, 598, 599, 601, 602, 604, 605, 606, 608, 609, 610, 612,
	613, 615, 616, 617, 619, 620, 621, 623, 624, 625, 627, 628, 629, 631, 632, 634,
	635, 636, 638, 639, 640, 642, 643, 644, 646, 647, 649, 650, 651, 653, 654, 655,
	657, 658, 660, 661, 662, 664, 665, 667, 668, 669, 671, 672, 674, 675, 677, 678,
	679, 681, 682, 684, 685, 687, 688, 690, 691, 693, 694, 696, 697, 699, 700, 702,
	704, 705, 707, 708, 710, 712, 713, 715, 716, 718, 720, 721, 723, 725, 727, 728,
	730, 732, 734, 735, 737, 739, 741, 743, 745, 747, 748, 750, 752, 754, 756, 758,
	760, 763, 765, 767, 769, 771, 773, 776, 778, 780, 782, 785, 787, 790, 792, 795,
	797, 800, 803, 805, 808, 811, 814, 817, 820, 823, 826, 829, 833, 836, 840, 843,
	847, 851, 855, 859, 863, 868, 872, 877, 882, 887, 893, 898, 904, 911, 918, 925,
	933, 941, 951, 961, 972, 985, 1000, 1017, 1039, 1067, 1108, 1183, 1520, 2658, 4666, 8191,
}

// SeekTable is the coded seek table of a Spotify file, as it is stored, so
// that parsing and building round-trip exactly.
type SeekTable struct {
	Frames uint32 // frames (samples per channel) the table spans: the track's length
	Bytes  uint32 // bytes the table spans: the Ogg stream after the header page
	Bias   uint8  // index of the step size subtracted from every point
	Steps  [seekPoints]uint8
}

// ErrNoSeekTable says the header carries no usable seek table; the file
// still plays, and seeks by reading the stream instead.
var ErrNoSeekTable = errors.New("spotify header: no usable seek table")

// point returns point k (0..99) in 1/65536 of Bytes; it may be negative.
func (t *SeekTable) point(k int) int64 {
	p := -int64(stepSizes[t.Bias])
	for _, s := range t.Steps[:k+1] {
		p += int64(stepSizes[s])
	}
	return p
}

// offsetAt returns the byte offset the table gives for p % of the frames,
// p in 0..100: 0 for 0 %, point p-1 otherwise, clamped to [0, Bytes].
func (t *SeekTable) offsetAt(p int) int64 {
	if p <= 0 {
		return 0
	}
	v := t.point(p-1) * int64(t.Bytes) >> 16
	return max(0, min(v, int64(t.Bytes)))
}

// Guess returns where in the Ogg stream (bytes after the header page) the
// page holding frame f probably starts (interpolated between the two table
// points around f), and an offset at or before it (the point below f), for
// a second try when the first lands past f.
func (t SeekTable) Guess(f int64) (likely, before int64) {
	if t.Frames == 0 || f <= 0 {
		return 0, 0
	}
	r := float64(f) * 100 / float64(t.Frames)
	if r >= 100 {
		e := t.offsetAt(100)
		return e, e
	}
	p := int(r)
	lo, hi := t.offsetAt(p), t.offsetAt(p+1)
	likely = lo + int64(float64(hi-lo)*(r-float64(p)))
	return max(lo, min(likely, hi)), min(lo, hi)
}

// ParseSeekTable finds the seek table in the header page h (at least Size
// bytes). It walks the packet's segments with every length checked, so any
// input gives a table or an error, never a panic.
func ParseSeekTable(h []byte) (SeekTable, error) {
	if len(h) < Size {
		return SeekTable{}, fmt.Errorf("%w: header too short (%d bytes)", ErrNoSeekTable, len(h))
	}
	h = h[:Size]
	if string(h[:4]) != "OggS" {
		return SeekTable{}, fmt.Errorf("%w: header is not an Ogg page", ErrNoSeekTable)
	}
	nseg := int(h[26])
	if pageHeaderLen+nseg > len(h) {
		return SeekTable{}, fmt.Errorf("%w: %d lacing values do not fit the header", ErrNoSeekTable, nseg)
	}
	// The first packet: lacing values up to the first one below 255.
	n, end := 0, false
	for _, l := range h[pageHeaderLen : pageHeaderLen+nseg] {
		n += int(l)
		if l < 255 {
			end = true
			break
		}
	}
	start := pageHeaderLen + nseg
	if !end || n < 1 || start+n > len(h) {
		return SeekTable{}, fmt.Errorf("%w: first packet does not fit the header page", ErrNoSeekTable)
	}
	pkt := h[start : start+n]
	if pkt[0] != packetMarker {
		return SeekTable{}, fmt.Errorf("%w: packet type %#x, want %#x", ErrNoSeekTable, pkt[0], packetMarker)
	}
	for rest := pkt[1:]; len(rest) >= 2; {
		l := int(binary.LittleEndian.Uint16(rest))
		rest = rest[2:]
		if l < 1 || l > len(rest) {
			return SeekTable{}, fmt.Errorf("%w: segment of %d bytes with %d left", ErrNoSeekTable, l, len(rest))
		}
		seg := rest[:l]
		rest = rest[l:]
		if seg[0] != segSeekTable {
			continue
		}
		if l != seekSegmentLen {
			return SeekTable{}, fmt.Errorf("%w: seek table segment of %d bytes, want %d", ErrNoSeekTable, l, seekSegmentLen)
		}
		t := SeekTable{
			Frames: binary.LittleEndian.Uint32(seg[1:]),
			Bytes:  binary.LittleEndian.Uint32(seg[5:]),
			Bias:   seg[9],
		}
		copy(t.Steps[:], seg[10:])
		if t.Frames == 0 || t.Bytes == 0 {
			return SeekTable{}, fmt.Errorf("%w: spans %d frames, %d bytes", ErrNoSeekTable, t.Frames, t.Bytes)
		}
		return t, nil
	}
	return SeekTable{}, fmt.Errorf("%w: no seek table segment", ErrNoSeekTable)
}

// ReadSeekTable reads the seek table from the header of the (decrypted)
// file r.
func ReadSeekTable(r io.ReaderAt) (SeekTable, error) {
	var h [Size]byte
	if n, err := r.ReadAt(h[:], 0); n < len(h) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return SeekTable{}, fmt.Errorf("read spotify header: %w", err)
	}
	return ParseSeekTable(h[:])
}

// BuildWithSeek makes a header page as Spotify's files carry it: a valid Ogg
// page (serial 0, sequence 0, beginning-of-stream) whose packet holds t and
// n, so that n sits at byte 144 as Parse expects. The Ogg stream that
// follows is a separate logical stream, as in Spotify's files.
func BuildWithSeek(n Normalisation, t SeekTable) []byte {
	h := make([]byte, 0, Size)
	h = append(h, "OggS"...)
	h = append(h, 0, 2)                        // version, flags: beginning of stream
	h = binary.LittleEndian.AppendUint64(h, 0) // granule position
	h = append(h, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	h = append(h, 1, packetLen)
	h = append(h, packetMarker)
	h = binary.LittleEndian.AppendUint16(h, seekSegmentLen)
	h = append(h, segSeekTable)
	h = binary.LittleEndian.AppendUint32(h, t.Frames)
	h = binary.LittleEndian.AppendUint32(h, t.Bytes)
	h = append(h, t.Bias)
	h = append(h, t.Steps[:]...)
	h = binary.LittleEndian.AppendUint16(h, 17)
	h = append(h, segReplayGain)
	for _, v := range []float32{n.TrackGainDB, n.TrackPeak, n.AlbumGainDB, n.AlbumPeak} {
		h = binary.LittleEndian.AppendUint32(h, math.Float32bits(v))
	}
	h = binary.LittleEndian.AppendUint16(h, 5)
	h = append(h, segMinusOne)
	h = binary.LittleEndian.AppendUint32(h, math.MaxUint32)
	binary.LittleEndian.PutUint32(h[22:], oggCRC(h))
	return h
}

// SeekTableFor computes the seek table of the Ogg stream ogg, for tests and
// the fake CDN: point k is the offset of the last page whose granule
// position is at or before (k+1) % of the frames, that is a page the
// decoder can start from to reach that frame, rounded down to what the
// step sizes can express (a guess that is early costs a short read
// forward; a late one a second try).
func SeekTableFor(ogg []byte) (SeekTable, error) {
	type page struct{ off, granule int64 }
	var pages []page
	for off := 0; off < len(ogg); {
		if off+pageHeaderLen > len(ogg) || string(ogg[off:off+4]) != "OggS" {
			return SeekTable{}, fmt.Errorf("seek table: no Ogg page at byte %d", off)
		}
		nseg := int(ogg[off+26])
		if off+pageHeaderLen+nseg > len(ogg) {
			return SeekTable{}, fmt.Errorf("seek table: page at byte %d cut short", off)
		}
		body := 0
		for _, l := range ogg[off+pageHeaderLen : off+pageHeaderLen+nseg] {
			body += int(l)
		}
		g := int64(binary.LittleEndian.Uint64(ogg[off+6:]))
		pages = append(pages, page{int64(off), g})
		off += pageHeaderLen + nseg + body
		if off > len(ogg) {
			return SeekTable{}, fmt.Errorf("seek table: page at byte %d cut short", pages[len(pages)-1].off)
		}
	}
	if len(pages) == 0 || uint64(len(ogg)) > math.MaxUint32 {
		return SeekTable{}, fmt.Errorf("seek table: %d bytes is no usable Ogg stream", len(ogg))
	}
	frames := pages[len(pages)-1].granule
	if frames <= 0 || frames > math.MaxUint32 {
		return SeekTable{}, fmt.Errorf("seek table: stream length %d frames out of range", frames)
	}
	t := SeekTable{Frames: uint32(frames), Bytes: uint32(len(ogg))}
	var cum int64
	for k := range seekPoints {
		target := frames * int64(k+1) / seekPoints
		var want int64
		for _, p := range pages {
			if p.granule > target {
				break
			}
			if p.granule >= 0 {
				want = p.off
			}
		}
		// In 1/65536 of Bytes, rounded down so the decoded offset is not
		// past want; then the largest step that does not overshoot.
		units := want << 16 / int64(len(ogg))
		need := units - cum
		i := sort.Search(len(stepSizes), func(i int) bool { return int64(stepSizes[i]) > need }) - 1
		i = max(i, 0)
		t.Steps[k] = uint8(i)
		cum += int64(stepSizes[i])
	}
	return t, nil
}

// oggCRC is the Ogg page checksum (CRC-32, polynomial 0x04c11db7, MSB
// first) of page, whose checksum field must be zero.
func oggCRC(page []byte) uint32 {
	var crc uint32
	for _, b := range page {
		crc ^= uint32(b) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

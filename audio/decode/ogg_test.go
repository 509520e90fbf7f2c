package decode

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/jfreymuth/oggvorbis"
	"github.com/jfreymuth/vorbis"
	"github.com/speakerbox/speakerbox/audio/audiotest"
)

// Our Ogg layer feeds the library's Vorbis decoder directly; the samples
// must be exactly those of the library's own Ogg reader (which also clips
// them to -1..1; we leave that to the output stage).
func TestSameSamplesAsLibraryReader(t *testing.T) {
	files := map[string][]byte{"tiny (one audio page)": audiotest.Read(t, "testdata/tiny.ogg")}
	// The extremes of rate, channels and bitrate (all 12 files cost
	// minutes under the race detector, for the same framing code).
	for _, s := range []audiotest.Spec{{Rate: 44100, Channels: 2, Kbps: 320}, {Rate: 48000, Channels: 1, Kbps: 96}, {Rate: 44100, Channels: 1, Kbps: 160}} {
		files[s.String()] = audiotest.Read(t, audiotest.Ogg(t, s))
	}
	for s, b := range files {
		ours := decodeAll(t, open(t, b))
		var lib []float32
		r, err := oggvorbis.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]float32, 4096)
		for {
			n, err := r.Read(buf)
			lib = append(lib, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if len(ours) != len(lib) {
			t.Fatalf("%s: %d samples, library %d", s, len(ours), len(lib))
		}
		for i, x := range ours {
			if max(-1, min(1, x)) != lib[i] {
				t.Fatalf("%s: sample %d = %v, library %v", s, i, x, lib[i])
			}
		}
	}
}

// pages returns the offset of every page of an Ogg file.
func pages(t testing.TB, b []byte) []int {
	var offs []int
	for at := 0; at < len(b); {
		if string(b[at:at+4]) != "OggS" {
			t.Fatalf("no page at %d", at)
		}
		offs = append(offs, at)
		n := int(b[at+26])
		size := 27 + n
		for _, l := range b[at+27 : at+27+n] {
			size += int(l)
		}
		at += size
	}
	return offs
}

// Seeking to every page's granule position and to the frames around it
// (where restarting goes from one page to the next, and where packets
// continue across pages) gives exactly the frames of a linear decode.
func TestSeekAroundEveryPage(t *testing.T) {
	for _, s := range []audiotest.Spec{{Rate: 44100, Channels: 2, Kbps: 320}, {Rate: 44100, Channels: 2, Kbps: 96}, {Rate: 48000, Channels: 1, Kbps: 160}} {
		b := audiotest.Read(t, audiotest.Ogg(t, s))
		all := decodeAll(t, open(t, b))
		d := open(t, b)
		buf := make([]float32, 300*s.Channels)
		continued := 0
		for _, off := range pages(t, b) {
			if b[off+5]&flagContinued != 0 {
				continued++
			}
			g := int64(binary.LittleEndian.Uint64(b[off+6:]))
			for _, f := range []int64{g - 1, g, g + 1, g + 700} {
				if f < 0 || f > d.Length() {
					continue
				}
				if err := d.SeekFrame(f); err != nil {
					t.Fatal(err)
				}
				n := readFull(t, d, buf)
				want := all[f*int64(s.Channels):]
				if n != min(len(buf), len(want)) {
					t.Fatalf("%s seek to %d: %d samples, %d left", s, f, n, len(want))
				}
				for i := range buf[:n] {
					if buf[i] != want[i] {
						t.Fatalf("%s seek to %d: sample %d = %v, want %v", s, f, i, buf[i], want[i])
					}
				}
			}
		}
		if continued == 0 {
			t.Logf("%s: no packet continues across pages", s)
		}
	}
}

// regranule rewrites every granule position of an Ogg file (and the page
// checksums) with f applied.
func regranule(b []byte, f func(int64) int64) []byte {
	b = append([]byte(nil), b...)
	for at := 0; at < len(b); {
		n := int(b[at+26])
		size := 27 + n
		for _, l := range b[at+27 : at+27+n] {
			size += int(l)
		}
		if g := int64(binary.LittleEndian.Uint64(b[at+6:])); g > 0 {
			binary.LittleEndian.PutUint64(b[at+6:], uint64(f(g)))
		}
		clear(b[at+22 : at+26])
		binary.LittleEndian.PutUint32(b[at+22:], crcUpdate(0, b[at:at+size]))
		at += size
	}
	return b
}

// Granule positions smaller than the decoded frames (an encoder's priming
// samples) drop that many leading frames, and seeking counts frames from
// the first one played.
func TestLeadingFramesDropped(t *testing.T) {
	s := audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 160}
	b := audiotest.Read(t, audiotest.Ogg(t, s))
	all := decodeAll(t, open(t, b))
	const lead = 1000
	shifted := regranule(b, func(g int64) int64 { return g - lead })
	d := open(t, shifted)
	if want := int64(len(all)/2 - lead); d.Length() != want {
		t.Fatalf("length %d, want %d", d.Length(), want)
	}
	got := decodeAll(t, d)
	if !equal(got, all[lead*2:]) {
		t.Fatalf("%d samples, want the %d after the first %d frames", len(got), len(all)-lead*2, lead)
	}
	for _, f := range []int64{0, 5, 40000, d.Length() - 3} {
		if err := d.SeekFrame(f); err != nil {
			t.Fatal(err)
		}
		buf := make([]float32, 6)
		readFull(t, d, buf)
		if !equal(buf, all[(lead+f)*2:(lead+f)*2+6]) {
			t.Fatalf("seek to %d: %v", f, buf)
		}
	}
	// A stream that starts later (a cut-out fragment) starts at its first
	// frame's number.
	late := regranule(b, func(g int64) int64 { return g + lead })
	d = open(t, late)
	if d.Position() != lead || d.Length() != int64(len(all)/2+lead) {
		t.Fatalf("position %d, length %d", d.Position(), d.Length())
	}
	if got := decodeAll(t, d); !equal(got, all) {
		t.Fatalf("late-starting stream: %d samples, want %d", len(got), len(all))
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Damaged framing is an error, never a panic or a wrong sample count.
func TestBadFraming(t *testing.T) {
	good := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 1, Kbps: 96}))
	offs := pages(t, good)
	mid := offs[len(offs)/2]
	cases := map[string][]byte{}
	// A page whose continuation flag is flipped, checksum fixed.
	flip := append([]byte(nil), good...)
	flip[mid+5] ^= flagContinued
	cases["continuation flag flipped"] = refix(flip, mid)
	// A page from another logical stream.
	other := append([]byte(nil), good...)
	other[mid+14] ^= 1
	cases["foreign serial number"] = refix(other, mid)
	for name, b := range cases {
		withTimeout(t, func() {
			if err := decodeErr(b); err == nil {
				t.Errorf("%s: no error", name)
			} else {
				t.Logf("%s: %v", name, err)
			}
		})
	}
}

// refix recomputes the checksum of the page at off.
func refix(b []byte, off int) []byte {
	n := int(b[off+26])
	size := 27 + n
	for _, l := range b[off+27 : off+27+n] {
		size += int(l)
	}
	clear(b[off+22 : off+26])
	binary.LittleEndian.PutUint32(b[off+22:], crcUpdate(0, b[off:off+size]))
	return b
}

// repage rewrites an Ogg Vorbis file with at most segs lacing values per
// audio page, so that most packets continue across pages, as other
// encoders' files do (oggenc's end every page with a packet). Granule
// positions are computed by decoding each packet.
func repage(t testing.TB, b []byte, segs int) []byte {
	var pr packetReader
	pr.r = bytes.NewReader(b)
	pr.serial = binary.LittleEndian.Uint32(b[14:])
	pr.reset()
	var vd vorbis.Decoder
	var packets [][]byte
	var granules []int64
	var frames int64
	for i := 0; ; i++ {
		pkt, _, err := pr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i < 3 {
			if err := vd.ReadHeader(pkt); err != nil {
				t.Fatal(err)
			}
			continue
		}
		out, err := vd.Decode(pkt)
		if err != nil {
			t.Fatal(err)
		}
		frames += int64(len(out) / vd.Channels())
		packets = append(packets, append([]byte(nil), pkt...))
		granules = append(granules, frames)
	}
	offs := pages(t, b)
	last := offs[len(offs)-1]
	granules[len(granules)-1] = int64(binary.LittleEndian.Uint64(b[last+6:])) // end trimming
	// Headers as they were (they end their pages); audio repaged.
	dataStart := 0
	for _, off := range offs {
		if binary.LittleEndian.Uint64(b[off+6:]) != 0 {
			break
		}
		dataStart = off + 27 + int(b[off+26])
		for _, l := range b[off+27 : off+27+int(b[off+26])] {
			dataStart += int(l)
		}
	}
	out := append([]byte(nil), b[:dataStart]...)
	type seg struct {
		data []byte
		end  int // packet index when this segment ends it, else -1
	}
	var all []seg
	for k, p := range packets {
		for {
			n := min(len(p), 255)
			end := -1
			if n < 255 {
				end = k
			}
			all = append(all, seg{p[:n], end})
			p = p[n:]
			if end >= 0 {
				break
			}
		}
	}
	seq := uint32(100)
	cont := false
	for i := 0; i < len(all); i += segs {
		page := all[i:min(i+segs, len(all))]
		h := make([]byte, 27, 27+len(page))
		copy(h, "OggS")
		if cont {
			h[5] |= flagContinued
		}
		if i+segs >= len(all) {
			h[5] |= flagEOS
		}
		g := int64(-1)
		var body []byte
		for _, s := range page {
			h = append(h, byte(len(s.data)))
			body = append(body, s.data...)
			if s.end >= 0 {
				g = granules[s.end]
			}
		}
		cont = page[len(page)-1].end < 0
		binary.LittleEndian.PutUint64(h[6:], uint64(g))
		copy(h[14:18], b[14:18])
		binary.LittleEndian.PutUint32(h[18:], seq)
		seq++
		h[26] = byte(len(page))
		pg := append(h, body...)
		binary.LittleEndian.PutUint32(pg[22:], crcUpdate(0, pg))
		out = append(out, pg...)
	}
	return out
}

// Packets that continue across pages (and pages on which no packet ends)
// decode to the same samples, and seeking around every page stays exact.
func TestPacketsAcrossPages(t *testing.T) {
	for _, s := range []audiotest.Spec{{Rate: 44100, Channels: 2, Kbps: 320}, {Rate: 48000, Channels: 1, Kbps: 96}} {
		b := audiotest.Read(t, audiotest.Ogg(t, s))
		all := decodeAll(t, open(t, b))
		for _, segs := range []int{1, 3} {
			rp := repage(t, b, segs)
			d := open(t, rp)
			if got := decodeAll(t, d); !equal(got, all) {
				t.Fatalf("%s repaged by %d: %d samples differ from the original's %d", s, segs, len(got), len(all))
			}
			buf := make([]float32, 50*s.Channels)
			offs := pages(t, rp)
			for i, off := range offs {
				if i%20 != 0 {
					continue // every 20th page keeps the test short (each seek walks the pages from the start)
				}
				g := int64(binary.LittleEndian.Uint64(rp[off+6:]))
				for _, f := range []int64{g - 1, g, g + 1} {
					if f < 0 || f > d.Length() {
						continue
					}
					if err := d.SeekFrame(f); err != nil {
						t.Fatal(err)
					}
					n := readFull(t, d, buf)
					want := all[f*int64(s.Channels):]
					if n != min(len(buf), len(want)) || !equal(buf[:n], want[:n]) {
						t.Fatalf("%s repaged by %d: seek to %d differs", s, segs, f)
					}
				}
			}
		}
	}
}

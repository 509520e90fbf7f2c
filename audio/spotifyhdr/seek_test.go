package spotifyhdr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

// The Ogg CRC is CRC-32/CKSUM without the final inversion: CKSUM's check
// value for "123456789" is 0x765e7680.
func TestOggCRC(t *testing.T) {
	if got, want := oggCRC([]byte("123456789")), uint32(0x765e7680^0xffffffff); got != want {
		t.Fatalf("crc %#x, want %#x", got, want)
	}
}

func sampleTable() SeekTable {
	t := SeekTable{Frames: 44100 * 200, Bytes: 4_000_000, Bias: 3}
	for i := range t.Steps {
		t.Steps[i] = uint8(100 + i)
	}
	return t
}

// The page has the layout of Spotify's: one Ogg page of 167 bytes with one
// 139-byte packet, the seek table segment first, the gain floats at 144.
func TestBuildWithSeekLayout(t *testing.T) {
	n := Normalisation{TrackGainDB: -6.5, TrackPeak: 0.98, AlbumGainDB: -4.25, AlbumPeak: 1.1}
	st := sampleTable()
	h := BuildWithSeek(n, st)
	if len(h) != Size {
		t.Fatalf("%d bytes, want %d", len(h), Size)
	}
	if string(h[:4]) != "OggS" || h[26] != 1 || h[27] != 139 || h[28] != 0x81 {
		t.Fatalf("page header % x", h[:29])
	}
	if l := binary.LittleEndian.Uint16(h[29:]); l != 110 || h[31] != 0 {
		t.Fatalf("seek segment length %d type %d", l, h[31])
	}
	if binary.LittleEndian.Uint32(h[32:]) != st.Frames || binary.LittleEndian.Uint32(h[36:]) != st.Bytes || h[40] != st.Bias || h[41] != st.Steps[0] || h[140] != st.Steps[99] {
		t.Fatal("seek table fields not where Spotify puts them")
	}
	if l := binary.LittleEndian.Uint16(h[141:]); l != 17 || h[143] != 1 {
		t.Fatalf("gain segment length %d type %d", l, h[143])
	}
	if l := binary.LittleEndian.Uint16(h[160:]); l != 5 || h[162] != 2 || binary.LittleEndian.Uint32(h[163:]) != math.MaxUint32 {
		t.Fatal("last segment")
	}
	// A valid page: the checksum covers the page with its field zeroed.
	c := append([]byte(nil), h...)
	clear(c[22:26])
	if oggCRC(c) != binary.LittleEndian.Uint32(h[22:]) {
		t.Fatal("page checksum")
	}
	got, err := Parse(append(h, "OggS"...))
	if err != nil || got != n {
		t.Fatalf("normalisation %+v %v, want %+v", got, err, n)
	}
	gst, err := ParseSeekTable(h)
	if err != nil || gst != st {
		t.Fatalf("seek table %+v %v, want %+v", gst, err, st)
	}
	rst, err := ReadSeekTable(bytes.NewReader(h))
	if err != nil || rst != st {
		t.Fatalf("read seek table %+v %v", rst, err)
	}
}

// Points are cumulative step sizes minus the bias step, in 1/65536 of
// Bytes; point k stands for (k+1) % of the frames.
func TestGuessDecodesPoints(t *testing.T) {
	st := SeekTable{Frames: 100_000, Bytes: 65536 * 10, Bias: 1} // bias 112 units
	st.Steps[0] = 2                                              // 197: point 0 = 85 units
	for i := 1; i < 100; i++ {
		st.Steps[i] = 127 // 655 units each
	}
	unit := int64(10) // Bytes/65536
	p0 := (197 - 112) * unit
	p1 := p0 + 655*unit
	// 0 % is the start; 1 % point 0; 1.5 % halfway to point 1.
	for _, c := range []struct {
		f, likely, before int64
	}{
		{0, 0, 0},
		{500, p0 / 2, 0},
		{1000, p0, p0},
		{1500, (p0 + p1) / 2, p0},
		{2000, p1, p1},
		{100_000, p0 + 99*655*unit, p0 + 99*655*unit},
		{1 << 40, p0 + 99*655*unit, p0 + 99*655*unit},
	} {
		l, b := st.Guess(c.f)
		if l != c.likely || b != c.before {
			t.Errorf("Guess(%d) = %d, %d; want %d, %d", c.f, l, b, c.likely, c.before)
		}
	}
	// A bias larger than the first step makes point 0 negative: clamped.
	st.Bias = 255
	if l, b := st.Guess(1000); l != 0 || b != 0 {
		t.Errorf("negative point: %d %d", l, b)
	}
}

func TestParseSeekTableRejects(t *testing.T) {
	good := BuildWithSeek(Normalisation{}, sampleTable())
	mod := func(f func(h []byte)) []byte {
		h := append([]byte(nil), good...)
		f(h)
		return h
	}
	for name, h := range map[string][]byte{
		"filler header (Build)": Build(Normalisation{}),
		"short":                 good[:100],
		"not a page":            mod(func(h []byte) { h[0] = 'X' }),
		"many lacing values":    mod(func(h []byte) { h[26] = 200 }),
		"packet past the page":  mod(func(h []byte) { h[27] = 200 }),
		"unfinished packet":     mod(func(h []byte) { h[27] = 255 }),
		"other marker":          mod(func(h []byte) { h[28] = 0x01 }),
		"segment too long":      mod(func(h []byte) { binary.LittleEndian.PutUint16(h[29:], 500) }),
		"segment of zero bytes": mod(func(h []byte) { binary.LittleEndian.PutUint16(h[29:], 0) }),
		"short seek segment":    mod(func(h []byte) { binary.LittleEndian.PutUint16(h[29:], 1+4+4) }),
		"no seek segment":       mod(func(h []byte) { h[31] = 7 }),
		"zero frames":           mod(func(h []byte) { binary.LittleEndian.PutUint32(h[32:], 0) }),
		"zero bytes":            mod(func(h []byte) { binary.LittleEndian.PutUint32(h[36:], 0) }),
	} {
		if _, err := ParseSeekTable(h); !errors.Is(err, ErrNoSeekTable) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Segments in another order are found.
	other := mod(func(h []byte) {
		p := append([]byte(nil), h[141:167]...) // gain and -1 segments
		copy(h[29+len(p):], h[29:141])
		copy(h[29:], p)
	})
	if st, err := ParseSeekTable(other); err != nil || st != sampleTable() {
		t.Errorf("reordered segments: %+v %v", st, err)
	}
}

func FuzzParseSeekTable(f *testing.F) {
	f.Add(BuildWithSeek(Normalisation{TrackPeak: 1, AlbumPeak: 1}, sampleTable()), int64(12345))
	f.Add(Build(Normalisation{}), int64(0))
	f.Add(make([]byte, Size), int64(-1))
	f.Fuzz(func(t *testing.T, h []byte, frame int64) {
		st, err := ParseSeekTable(h)
		if err != nil {
			return
		}
		if st.Frames == 0 || st.Bytes == 0 {
			t.Fatalf("accepted %+v", st)
		}
		// Whatever the table says, guesses stay inside the stream and
		// "before" is not after "likely".
		l, b := st.Guess(frame)
		if l < 0 || b < 0 || l > int64(st.Bytes) || b > l {
			t.Fatalf("Guess(%d) = %d, %d with %d bytes", frame, l, b, st.Bytes)
		}
		if got, err := ParseSeekTable(BuildWithSeek(Normalisation{}, st)); err != nil || got != st {
			t.Fatalf("round trip %+v: %+v %v", st, got, err)
		}
	})
}

package decode

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/speakerbox/speakerbox/audio/audiotest"
	"github.com/speakerbox/speakerbox/audio/spotifyhdr"
)

// checkSeeks seeks d to each frame and compares what it reads with the
// linear decode all.
func checkSeeks(t *testing.T, name string, d *Decoder, all []float32, ch int, frames []int64) {
	t.Helper()
	buf := make([]float32, 300*ch)
	for _, f := range frames {
		if err := d.SeekFrame(f); err != nil {
			t.Fatalf("%s seek to %d: %v", name, f, err)
		}
		n := readFull(t, d, buf)
		want := all[f*int64(ch):]
		if n != min(len(buf), len(want)) {
			t.Fatalf("%s seek to %d: %d samples, %d left", name, f, n, len(want))
		}
		for i := range buf[:n] {
			if buf[i] != want[i] {
				t.Fatalf("%s seek to %d: sample %d = %v, want %v", name, f, i, buf[i], want[i])
			}
		}
	}
}

// aroundPages returns every page's granule position and the frames
// around it, within the stream.
func aroundPages(t testing.TB, b []byte, length int64) []int64 {
	var fs []int64
	for _, off := range pages(t, b) {
		g := int64(binary.LittleEndian.Uint64(b[off+6:]))
		for _, f := range []int64{g - 1, g, g + 1, g + 700} {
			if f >= 0 && f <= length {
				fs = append(fs, f)
			}
		}
	}
	return fs
}

func tableFor(t testing.TB, b []byte) spotifyhdr.SeekTable {
	t.Helper()
	st, err := spotifyhdr.SeekTableFor(b)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// With the seek table of the file, seeks to every page and the frames
// around it still give exactly the frames of a linear decode, in order and
// jumping back and forth.
func TestIndexedSeekAroundEveryPage(t *testing.T) {
	s := audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 320}
	b := audiotest.Read(t, audiotest.Ogg(t, s))
	all := decodeAll(t, open(t, b))
	d := open(t, b)
	d.SetSeekIndex(tableFor(t, b))
	fs := aroundPages(t, b, d.Length())
	checkSeeks(t, s.String(), d, all, s.Channels, fs)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
	checkSeeks(t, s.String()+" shuffled", d, all, s.Channels, fs[:min(len(fs), 100)])
}

// guessFunc is a SeekIndex from a function.
type guessFunc func(f int64) (likely, before int64)

func (g guessFunc) Guess(f int64) (int64, int64) { return g(f) }

// A wrong index costs reads, never samples: guesses at the start, at the
// end, past the end, backwards and at random all land exactly.
func TestWrongIndexStillExact(t *testing.T) {
	s := audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 320}
	b := audiotest.Read(t, audiotest.Ogg(t, s))
	all := decodeAll(t, open(t, b))
	d := open(t, b)
	size := int64(len(b))
	r := rand.New(rand.NewPCG(3, 4))
	fs := aroundPages(t, b, d.Length())
	r.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
	fs = fs[:min(len(fs), 25)]
	for name, g := range map[string]guessFunc{
		"start":     func(int64) (int64, int64) { return 0, 0 },
		"end":       func(int64) (int64, int64) { return size, size },
		"past end":  func(int64) (int64, int64) { return 1 << 50, -1 << 50 },
		"backwards": func(f int64) (int64, int64) { o := size - f*size/d.Length(); return o, o },
		"random":    func(int64) (int64, int64) { return r.Int64N(size), r.Int64N(size) },
		"mid-page":  func(f int64) (int64, int64) { o := f*size/d.Length() + 13; return o, o },
	} {
		d.SetSeekIndex(g)
		checkSeeks(t, name, d, all, s.Channels, fs)
	}
}

// chunkCounter is a ReaderAt over b that records which chunks of 128 KiB
// (audio/source's default) reads touch: each one touched is a range
// request for a remote file not fetched yet.
type chunkCounter struct {
	b       []byte
	touched map[int64]bool
}

const chunk = 128 << 10

func (c *chunkCounter) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(c.b)) {
		return 0, io.EOF
	}
	n := copy(p, c.b[off:])
	for i := off / chunk; i <= (off+int64(n)-1)/chunk; i++ {
		c.touched[i] = true
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (c *chunkCounter) chunks() []int64 {
	var s []int64
	for i := range c.touched {
		s = append(s, i)
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

// A seek with the seek table, into a part of the file not read yet, reads
// at most two chunks (one when the guess is good) to land and play on;
// without it, every chunk up to the target.
func TestIndexedSeekReadsNearTarget(t *testing.T) {
	s := audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 320, Repeat: 10}
	b := audiotest.Read(t, audiotest.Ogg(t, s))
	st := tableFor(t, b)
	for _, at := range []float64{0.25, 0.5, 0.77, 0.999} {
		var counts [2]int
		for i, indexed := range []bool{true, false} {
			c := &chunkCounter{b: b, touched: map[int64]bool{}}
			d, err := Open(c, int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			if indexed {
				d.SetSeekIndex(st)
			}
			c.touched = map[int64]bool{}
			f := int64(at * float64(d.Length()))
			if err := d.SeekFrame(f); err != nil {
				t.Fatal(err)
			}
			buf := make([]float32, s.Rate/4*s.Channels) // a quarter second
			n := readFull(t, d, buf)
			if want := min(len(buf), int(d.Length()-f)*s.Channels); n != want {
				t.Fatalf("read %d samples after seek to %d, want %d", n, f, want)
			}
			counts[i] = len(c.touched)
			t.Logf("seek to %.1f %% (indexed %v): chunks %v", at*100, indexed, c.chunks())
		}
		if counts[0] > 2 {
			t.Errorf("seek to %.1f %% with the table touched %d chunks, want at most 2", at*100, counts[0])
		}
		// The walk from the start reads the headers of every page before
		// the target: every chunk up to it (but the last, read at Open).
		if min := int(at * float64(len(b)) / chunk); counts[1] < min-1 {
			t.Errorf("seek to %.1f %% without the table touched %d chunks, expected about %d", at*100, counts[1], min)
		}
	}
}

// Seeking to or past the end, with the table, is "at the end": no error,
// and Read says io.EOF.
func TestIndexedSeekToEnd(t *testing.T) {
	s := audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 320}
	b := audiotest.Read(t, audiotest.Ogg(t, s))
	all := decodeAll(t, open(t, b))
	d := open(t, b)
	d.SetSeekIndex(tableFor(t, b))
	buf := make([]float32, 4096)
	for _, f := range []int64{d.Length(), d.Length() + 1, 1 << 40} {
		if err := d.SeekFrame(f); err != nil {
			t.Fatal(err)
		}
		if n, err := d.Read(buf); n != 0 || err != io.EOF {
			t.Fatalf("read after seek to %d: %d %v", f, n, err)
		}
	}
	if err := d.SeekFrame(d.Length() - 3); err != nil {
		t.Fatal(err)
	}
	n := readFull(t, d, buf)
	if !bytes.Equal(f32bytes(buf[:n]), f32bytes(all[len(all)-3*s.Channels:])) {
		t.Fatalf("last three frames: %v, want %v", buf[:n], all[len(all)-3*s.Channels:])
	}
}

func f32bytes(p []float32) []byte {
	b := make([]byte, 0, 4*len(p))
	for _, x := range p {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// Capture patterns inside packet data (here planted, with a plausible
// header of our serial and an early granule position, but no valid
// checksum) are passed over: guesses that land just before them still
// seek exactly. So do guesses into a file whose packets continue across
// pages.
func TestIndexedSeekPassesFalsePages(t *testing.T) {
	s := audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 320}
	orig := audiotest.Read(t, audiotest.Ogg(t, s))
	planted := append([]byte(nil), orig...)
	offs := pages(t, planted)
	var fake []int64
	for i, off := range offs {
		if i < 3 || i%4 != 0 {
			continue
		}
		at := off + 27 + int(planted[off+26]) + 50
		h := planted[at : at+27]
		copy(h, "OggS\x00\x00")
		binary.LittleEndian.PutUint64(h[6:], 1) // granule: "early"
		copy(h[14:18], planted[off+14:off+18])  // our serial
		h[26] = 3
		refix(planted, off)
		fake = append(fake, int64(at))
	}
	for name, b := range map[string][]byte{"planted": planted, "repaged": repage(t, orig, 3)} {
		all := decodeAll(t, open(t, b))
		d := open(t, b)
		fs := aroundPages(t, b, d.Length())
		r := rand.New(rand.NewPCG(5, 6))
		r.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
		fs = fs[:min(len(fs), 30)]
		d.SetSeekIndex(guessFunc(func(f int64) (int64, int64) {
			// Just before the planted pattern nearest the target.
			o := f * int64(len(b)) / d.Length()
			i := sort.Search(len(fake), func(i int) bool { return fake[i] >= o })
			if i < len(fake) {
				o = fake[i] - 5
			}
			return o + guessMargin, o
		}))
		checkSeeks(t, name, d, all, s.Channels, fs)
		d.SetSeekIndex(tableFor(t, b))
		checkSeeks(t, name+" with its table", d, all, s.Channels, fs)
	}
}

// FuzzIndexedSeek: whatever the stream and whatever the index guesses,
// an indexed seek neither panics nor hangs; on the intact seed files it
// lands exactly. The walk span is made small so that small inputs take
// the probing paths.
func FuzzIndexedSeek(f *testing.F) {
	tiny := audiotest.Read(f, "testdata/tiny.ogg")
	f.Add(tiny, int64(500), int64(100), uint16(64))
	f.Add(repage(f, tiny, 2), int64(3000), int64(0), uint16(300))
	f.Add(tiny[:len(tiny)/2], int64(-5), int64(1<<40), uint16(1))
	ref := decodeAll(f, open(f, tiny))
	f.Fuzz(func(t *testing.T, b []byte, likely, before int64, span uint16) {
		d, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		d.span = int64(span) + 1
		n := int64(len(b))
		d.SetSeekIndex(guessFunc(func(f int64) (int64, int64) {
			return likely + f%max(1, n), before - f%max(1, n)
		}))
		exact := bytes.Equal(b, tiny)
		buf := make([]float32, 256*d.Channels())
		for _, fr := range []int64{d.Length() / 2, 1, d.Length() - 1, d.Length() / 3} {
			if err := d.SeekFrame(fr); err != nil {
				return
			}
			k, err := d.Read(buf)
			if err != nil && err != io.EOF {
				return
			}
			if exact {
				want := ref[fr*int64(d.Channels()):]
				if !slicesEqual(buf[:k], want[:min(len(want), k)]) || k == 0 && len(want) > 0 {
					t.Fatalf("seek to %d: %d samples differ", fr, k)
				}
			}
		}
	})
}

func slicesEqual(a, b []float32) bool {
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

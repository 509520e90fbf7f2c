package decode

import (
	"bytes"
	"io"
	"math"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/audio/audiotest"
)

func decodeAll(t testing.TB, d *Decoder) []float32 {
	t.Helper()
	var out []float32
	buf := make([]float32, 4096)
	for {
		n, err := d.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func open(t testing.TB, b []byte) *Decoder {
	t.Helper()
	d, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// toS16 is libvorbisfile's float to 16-bit conversion (round half up, clip),
// so that the comparison measures the decoders, not the conversion.
func toS16(x float32) int16 {
	v := math.Floor(float64(x)*32768 + 0.5)
	return int16(max(-32768, min(32767, v)))
}

// MaxLSBDiff bounds the difference between our decoded PCM and libvorbis's
// in 16-bit LSB. Both decoders are float; they differ in rounding of the
// inverse MDCT and of the floor curve, by at most one LSB on our test files.
const MaxLSBDiff = 1

func TestMatchesOggdec(t *testing.T) {
	worst := 0
	for _, s := range audiotest.All() {
		t.Run(s.String(), func(t *testing.T) {
			path := audiotest.Ogg(t, s)
			ref := audiotest.Reference(t, path)
			d := open(t, audiotest.Read(t, path))
			if d.Rate() != s.Rate || d.Channels() != s.Channels {
				t.Fatalf("format %d Hz %d ch", d.Rate(), d.Channels())
			}
			got := decodeAll(t, d)
			if len(got) != len(ref) {
				t.Fatalf("%d samples, oggdec %d", len(got), len(ref))
			}
			if int64(len(got)) != d.Length()*int64(s.Channels) {
				t.Fatalf("%d samples, Length says %d frames", len(got), d.Length())
			}
			maxDiff := 0
			for i, x := range got {
				diff := int(toS16(x)) - int(ref[i])
				maxDiff = max(maxDiff, diff, -diff)
			}
			t.Logf("%s: %d frames, max difference %d LSB", s, len(got)/s.Channels, maxDiff)
			worst = max(worst, maxDiff)
			if maxDiff > MaxLSBDiff {
				t.Fatalf("max difference %d LSB > %d", maxDiff, MaxLSBDiff)
			}
		})
	}
	t.Logf("worst difference against oggdec over all files: %d LSB (16-bit)", worst)
}

func TestSeekIsSampleAccurate(t *testing.T) {
	for _, s := range []audiotest.Spec{{Rate: 44100, Channels: 2, Kbps: 160}, {Rate: 48000, Channels: 1, Kbps: 96}} {
		b := audiotest.Read(t, audiotest.Ogg(t, s))
		all := decodeAll(t, open(t, b))
		d := open(t, b)
		buf := make([]float32, 2000*s.Channels)
		for _, ms := range []int64{0, 1, 999, 2500, 3333, 1, 6000, 5000} {
			if err := d.SeekMs(ms); err != nil {
				t.Fatal(err)
			}
			f := ms * int64(s.Rate) / 1000
			if d.Position() != f {
				t.Fatalf("position %d after seek to %d ms", d.Position(), ms)
			}
			n := readFull(t, d, buf)
			want := all[f*int64(s.Channels):]
			if n != min(len(buf), len(want)) {
				t.Fatalf("seek %d ms: read %d samples, %d left in stream", ms, n, len(want))
			}
			got := buf[:n]
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s seek %d ms: sample %d = %v, want %v", s, ms, i, got[i], want[i])
				}
			}
		}
		if err := d.SeekMs(1 << 40); err != nil {
			t.Fatal(err)
		}
		if n, err := d.Read(buf); n != 0 || err != io.EOF {
			t.Fatalf("read after seek past end: %d %v", n, err)
		}
	}
}

// readFull reads until p is full or the stream ends.
func readFull(t testing.TB, d *Decoder, p []float32) int {
	t.Helper()
	got := 0
	for got < len(p) {
		n, err := d.Read(p[got:])
		got += n
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return got
}

func withTimeout(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("decoder hangs")
	}
}

func decodeErr(b []byte) error {
	d, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return err
	}
	buf := make([]float32, 4096)
	for {
		_, err := d.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestBadInput(t *testing.T) {
	good := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}))
	mid := len(good) / 2
	corrupt := append([]byte(nil), good...)
	for i := mid; i < mid+64; i++ {
		corrupt[i] ^= 0x5a
	}
	cases := map[string][]byte{
		"empty":              nil,
		"garbage":            bytes.Repeat([]byte("not an ogg file "), 1000),
		"truncated mid-page": good[:mid],
		"headers only":       good[:4000],
		"corrupted page":     corrupt,
		"garbage at end":     append(append([]byte(nil), good...), bytes.Repeat([]byte{0xee}, 5000)...),
	}
	// Cut exactly at a page boundary: no error from Ogg framing, but the
	// last page lacks the end-of-stream flag.
	if i := bytes.LastIndex(good[:mid], []byte("OggS")); i > 0 {
		cases["truncated at page boundary"] = good[:i]
	}
	for name, b := range cases {
		withTimeout(t, func() {
			if err := decodeErr(b); err == nil {
				t.Errorf("%s: no error", name)
			} else {
				t.Logf("%s: %v", name, err)
			}
		})
	}
	if err := decodeErr(good); err != nil {
		t.Fatalf("good file: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	tiny := audiotest.Read(f, "testdata/tiny.ogg")
	f.Add(tiny)
	f.Add(tiny[:len(tiny)/2])
	f.Add(tiny[:300])
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		buf := make([]float32, 1024)
		// A bound on the work, so a bogus length cannot make one input run
		// for minutes.
		for i := 0; i < 10000; i++ {
			if _, err := d.Read(buf); err != nil {
				break
			}
		}
		d.SeekMs(100)
		d.Read(buf)
	})
}

func BenchmarkDecode(b *testing.B) {
	data := audiotest.Read(b, audiotest.Ogg(b, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 160, Repeat: 10}))
	buf := make([]float32, 4096)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		d, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := d.Read(buf); err != nil {
				break
			}
		}
	}
}

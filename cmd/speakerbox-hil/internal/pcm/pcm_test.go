package pcm

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

var s16 = Format{Rate: 44100, Channels: 2, BitsPerSample: 16}

// tone makes n frames of S16 stereo noise with no silent frame, so any
// misalignment shows.
func tone(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n*4)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint16(b[i*4:], uint16(r.IntN(60000)+1))
		binary.LittleEndian.PutUint16(b[i*4+2:], uint16(r.IntN(60000)+1))
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestWAVRoundTrip(t *testing.T) {
	data := tone(100, 1)
	a, err := ParseWAV(EncodeWAV(s16, data))
	if err != nil {
		t.Fatal(err)
	}
	if a.Format != s16 || !bytes.Equal(a.Data, data) || a.Frames() != 100 {
		t.Fatalf("got %v, %d frames", a.Format, a.Frames())
	}
}

func TestWAVTruncatedDataIsCutToWholeFrames(t *testing.T) {
	w := EncodeWAV(s16, tone(100, 1))
	binary.LittleEndian.PutUint32(w[40:], 0xffffffff) // a streaming writer's size
	a, err := ParseWAV(w[:len(w)-3])
	if err != nil {
		t.Fatal(err)
	}
	if a.Frames() != 99 {
		t.Fatalf("got %d frames, want 99", a.Frames())
	}
}

func TestWAVErrors(t *testing.T) {
	good := EncodeWAV(s16, tone(4, 1))
	bad24 := bytes.Clone(good)
	binary.LittleEndian.PutUint16(bad24[34:], 12)
	for name, b := range map[string][]byte{
		"empty": nil, "not riff": []byte("RIFX0000WAVE"), "no chunks": good[:12],
		"odd bits": bad24, "no data": good[:36],
	} {
		if _, err := ParseWAV(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCompareExactAfterSilence(t *testing.T) {
	ref := cat(make([]byte, 8), tone(500, 2)) // two silent frames lead the reference
	capture := cat(make([]byte, 4*1000), ref[8:], make([]byte, 400))
	m, err := Compare(ref, capture, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Exact() || m.Offset != 998 {
		t.Fatalf("got %v", m)
	}
}

func TestCompareFindsOneChangedSample(t *testing.T) {
	ref := tone(500, 3)
	capture := cat(make([]byte, 40), ref)
	capture[40+4*300] ^= 1
	m, err := Compare(ref, capture, 4)
	if err != nil {
		t.Fatal(err)
	}
	if m.Exact() || m.Mismatched != 1 || m.FirstBad != 300 {
		t.Fatalf("got %v", m)
	}
}

func TestCompareShortCapture(t *testing.T) {
	ref := tone(500, 3)
	m, err := Compare(ref, ref[:4*480], 4)
	if err != nil {
		t.Fatal(err)
	}
	if m.Missing != 20 || m.Mismatched != 20 {
		t.Fatalf("got %v", m)
	}
}

func TestCompareSilentCapture(t *testing.T) {
	if _, err := Compare(tone(10, 1), make([]byte, 400), 4); err == nil {
		t.Fatal("silent capture compared without error")
	}
}

func TestGapOne(t *testing.T) {
	ref := tone(1000, 4)
	capture := cat(make([]byte, 12), ref[:4*400], make([]byte, 4*77), ref[4*400:], make([]byte, 40))
	m, err := CompareWithGap(ref, capture, 4, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Exact() || m.Gap != 77 || m.GapAt != 400 || m.ResumeAt != -1 {
		t.Fatalf("got %v", m)
	}
}

func TestGapWithLostFramesFails(t *testing.T) {
	ref := tone(1000, 5)
	capture := cat(ref[:4*400], make([]byte, 4*77), ref[4*410:])
	m, err := CompareWithGap(ref, capture, 4, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if m.Exact() {
		t.Fatalf("lost frames passed: %v", m)
	}
	if m.ResumeAt != 410 || m.GapAt != 400 || m.Silence != 77 {
		t.Fatalf("diagnosis: %v", m)
	}
}

func TestTwoGapsFail(t *testing.T) {
	ref := tone(1000, 6)
	capture := cat(ref[:4*300], make([]byte, 40), ref[4*300:4*600], make([]byte, 40), ref[4*600:])
	m, err := CompareWithGap(ref, capture, 4, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if m.Exact() {
		t.Fatalf("two gaps passed: %v", m)
	}
}

func TestGapNoneIsExact(t *testing.T) {
	ref := tone(100, 7)
	m, err := CompareWithGap(ref, ref, 4, 10)
	if err != nil || !m.Exact() || m.GapAt != -1 {
		t.Fatalf("got %v, %v", m, err)
	}
}

func FuzzParseWAV(f *testing.F) {
	f.Add(EncodeWAV(s16, tone(3, 1)))
	f.Add(EncodeWAV(Format{Rate: 48000, Channels: 1, BitsPerSample: 32, Float: true}, make([]byte, 8)))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt \xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseWAV(b)
		if err != nil {
			return
		}
		if fb := a.Format.FrameBytes(); fb <= 0 || len(a.Data)%fb != 0 {
			t.Fatalf("format %v with %d data bytes", a.Format, len(a.Data))
		}
	})
}

func FuzzCompareWithGap(f *testing.F) {
	f.Add(tone(20, 1), uint16(5), uint16(3))
	f.Fuzz(func(t *testing.T, ref []byte, at, gap uint16) {
		ref = ref[:len(ref)/4*4]
		if FirstSound(ref, 4) < 0 {
			return
		}
		k := int(at) % (len(ref)/4 + 1)
		capture := cat(make([]byte, 16), ref[:k*4], make([]byte, int(gap%64)*4), ref[k*4:])
		m, err := CompareWithGap(ref, capture, 4, 64)
		if err != nil {
			t.Fatal(err)
		}
		if !m.Exact() {
			t.Fatalf("a single inserted silence was not accepted: %v", m)
		}
	})
}

func TestDiff(t *testing.T) {
	a := tone(100, 9)
	b := bytes.Clone(a)
	binary.LittleEndian.PutUint16(b[4*10:], binary.LittleEndian.Uint16(a[4*10:])+3)
	binary.LittleEndian.PutUint16(b[4*20+2:], binary.LittleEndian.Uint16(a[4*20+2:])-1)
	frames, maxAbs := Diff(a, b, s16)
	if frames != 2 || maxAbs != 3 {
		t.Fatalf("got %d frames, max %d", frames, maxAbs)
	}
	if f, m := Diff(a, a, s16); f != 0 || m != 0 {
		t.Fatalf("identical: %d, %d", f, m)
	}
	if f, _ := Diff(a, a[:4*90], s16); f != 10 {
		t.Fatalf("shorter: %d frames", f)
	}
	// Sign extension: -1 against 1 is 2 apart.
	x := []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}
	y := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	if _, m := Diff(x, y, Format{Rate: 1, Channels: 1, BitsPerSample: 32}); m != 2 {
		t.Fatalf("32-bit -1 vs 1: max %d", m)
	}
}

// EncodeWAV writes a minimal WAV file for the tests.
func EncodeWAV(f Format, data []byte) []byte {
	out := make([]byte, 44, 44+len(data))
	copy(out[0:], "RIFF")
	binary.LittleEndian.PutUint32(out[4:], uint32(36+len(data)))
	copy(out[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(out[16:], 16)
	tag := uint16(wavFormatPCM)
	if f.Float {
		tag = wavFormatFloat
	}
	binary.LittleEndian.PutUint16(out[20:], tag)
	binary.LittleEndian.PutUint16(out[22:], uint16(f.Channels))
	binary.LittleEndian.PutUint32(out[24:], uint32(f.Rate))
	binary.LittleEndian.PutUint32(out[28:], uint32(f.Rate*f.FrameBytes()))
	binary.LittleEndian.PutUint16(out[32:], uint16(f.FrameBytes()))
	binary.LittleEndian.PutUint16(out[34:], uint16(f.BitsPerSample))
	copy(out[36:], "data")
	binary.LittleEndian.PutUint32(out[40:], uint32(len(data)))
	return append(out, data...)
}

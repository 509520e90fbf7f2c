package gain

import (
	"math"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/audio/spotifyhdr"
)

func db(g float32) float64 { return 20 * math.Log10(float64(g)) }

func TestVolumeCurves(t *testing.T) {
	log := Volume{Curve: CurveLog, RangeDB: 60}
	if g := log.Gain(0); g != 0 {
		t.Errorf("log(0) = %v, want silence", g)
	}
	if g := log.Gain(65535); math.Abs(float64(g)-1) > 1e-6 {
		t.Errorf("log(max) = %v, want 1", g)
	}
	// Equal slider steps are (nearly) equal dB steps in the upper range.
	d1 := db(log.Gain(65535)) - db(log.Gain(65535*3/4))
	d2 := db(log.Gain(65535*3/4)) - db(log.Gain(65535/2))
	if math.Abs(d1-15) > 0.5 || math.Abs(d2-15) > 0.5 {
		t.Errorf("log steps %.2f, %.2f dB, want about 15 dB for a quarter of a 60 dB range", d1, d2)
	}
	// Monotonic for all curves.
	for _, c := range []Curve{CurveLog, CurveCubic, CurveLinear} {
		v := Volume{Curve: c}
		prev := float32(-1)
		for x := 0; x <= 65535; x += 257 {
			g := v.Gain(uint16(x))
			if g < prev || g < 0 || g > 1 {
				t.Fatalf("%s: gain %v at %d after %v", c, g, x, prev)
			}
			prev = g
		}
	}
	if g := (Volume{Curve: CurveCubic}).Gain(65535 / 2); math.Abs(float64(g)-0.125) > 1e-3 {
		t.Errorf("cubic(half) = %v", g)
	}
	if g := (Volume{Curve: CurveLinear}).Gain(65535 / 2); math.Abs(float64(g)-0.5) > 1e-3 {
		t.Errorf("linear(half) = %v", g)
	}
	if g := (Volume{Curve: CurveFixed}).Gain(0); g != 1 {
		t.Errorf("fixed(0) = %v", g)
	}
	capped := Volume{Curve: CurveLinear, MaxPercent: 50}
	if g := capped.Gain(65535); math.Abs(float64(g)-0.5) > 1e-6 {
		t.Errorf("max_volume 50%%: top gain %v", g)
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"log", "cubic", "linear", "fixed"} {
		if c, err := ParseCurve(s); err != nil || c.String() != s {
			t.Errorf("%s: %v %v", s, c, err)
		}
	}
	for _, s := range []string{"off", "track", "album", "auto"} {
		if m, err := ParseNormMode(s); err != nil || m.String() != s {
			t.Errorf("%s: %v %v", s, m, err)
		}
	}
	if _, err := ParseCurve("loud"); err == nil {
		t.Error("bad curve accepted")
	}
	if _, err := ParseNormMode("on"); err == nil {
		t.Error("bad mode accepted")
	}
}

func TestNormalisationFactor(t *testing.T) {
	h := &spotifyhdr.Normalisation{TrackGainDB: -6, TrackPeak: 0.5, AlbumGainDB: 3, AlbumPeak: 0.9}
	cases := []struct {
		n      Normalisation
		album  bool
		wantDB float64
	}{
		{Normalisation{Mode: NormOff}, false, 0},
		{Normalisation{Mode: NormTrack}, true, -6},
		{Normalisation{Mode: NormTrack, PregainDB: 3}, false, -3},
		// album: +3 dB would put the 0.9 peak above full scale: limited to 1/0.9.
		{Normalisation{Mode: NormAlbum}, false, -db(0.9)},
		{Normalisation{Mode: NormAuto}, true, -db(0.9)},
		{Normalisation{Mode: NormAuto}, false, -6},
		// track with +10 dB pregain: +4 dB, but peak 0.5 allows +6.02 dB.
		{Normalisation{Mode: NormTrack, PregainDB: 10}, false, 4},
		// +8 dB: over the peak headroom, limited to 1/0.5.
		{Normalisation{Mode: NormTrack, PregainDB: 14}, false, db(2)},
	}
	for i, c := range cases {
		f := c.n.Factor(h, c.album)
		if math.Abs(db(f)-c.wantDB) > 0.01 {
			t.Errorf("case %d (%s): %.3f dB, want %.3f", i, c.n.Mode, db(f), c.wantDB)
		}
	}
	for _, m := range []NormMode{NormTrack, NormAlbum, NormAuto} {
		if f := (Normalisation{Mode: m, PregainDB: 20}).Factor(h, false); float64(f)*0.9 > 1.0001 && float64(f)*0.5 > 1.0001 {
			t.Errorf("%s: factor %v clips the peak", m, f)
		}
	}
	if f := (Normalisation{Mode: NormTrack}).Factor(nil, false); f != 1 {
		t.Errorf("no header: %v", f)
	}
}

func TestRampIsSmoothAndReachesTarget(t *testing.T) {
	r := NewRamp(48000, 5*time.Millisecond, 1)
	p := make([]float32, 2*480) // 10 ms stereo of ones
	for i := range p {
		p[i] = 1
	}
	r.SetTarget(0)
	r.Apply(p, 2)
	// 5 ms = 240 frames of glide, then silence; no step bigger than 1/240.
	for i := 2; i < len(p); i += 2 {
		if d := p[i-2] - p[i]; d < 0 || d > 1.0/240+1e-6 {
			t.Fatalf("frame %d: step %v", i/2, d)
		}
		if p[i] != p[i+1] {
			t.Fatalf("channels differ at frame %d", i/2)
		}
	}
	if p[2*240] != 0 || p[len(p)-1] != 0 || r.Current() != 0 {
		t.Fatalf("did not reach target: %v %v", p[2*240], r.Current())
	}
}

func TestRampUnityIsBitExact(t *testing.T) {
	r := NewRamp(44100, 5*time.Millisecond, 1)
	p := []float32{0.123456789, -0.987654321, 1e-30}
	q := append([]float32(nil), p...)
	r.Apply(p, 1)
	for i := range p {
		if p[i] != q[i] {
			t.Fatal("unity gain changed samples")
		}
	}
}

func TestRampAllocs(t *testing.T) {
	r := NewRamp(44100, 5*time.Millisecond, 0.5)
	p := make([]float32, 882)
	if a := testing.AllocsPerRun(100, func() { r.SetTarget(r.Current() * 0.9); r.Apply(p, 2) }); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

func BenchmarkRamp(b *testing.B) {
	r := NewRamp(44100, 5*time.Millisecond, 0.5)
	p := make([]float32, 882)
	b.SetBytes(int64(len(p) * 4))
	for b.Loop() {
		r.Apply(p, 2)
	}
}

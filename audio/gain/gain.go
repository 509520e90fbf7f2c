// Package gain computes and applies the one multiplier per sample that
// carries both loudness normalisation and volume, and ramps it so that a
// change never clicks.
package gain

import (
	"fmt"
	"math"
	"time"

	"github.com/speakerbox/speakerbox/audio/spotifyhdr"
)

// Curve maps the Connect volume slider to a linear gain.
type Curve int

// The volume curves.
const (
	// CurveLog spreads RangeDB decibels over the slider: every step of the
	// slider is the same number of dB, which is how loudness is heard. It is
	// (R^v - 1) / (R - 1) with R = 10^(RangeDB/20) and v in 0..1, so 0 is
	// silence and the top is unity gain.
	CurveLog Curve = iota
	// CurveCubic is v^3: a gentler curve without a configurable range.
	CurveCubic
	// CurveLinear is v.
	CurveLinear
	// CurveFixed ignores the slider (the volume is set elsewhere, e.g. on an
	// amplifier).
	CurveFixed
)

var curveNames = []string{"log", "cubic", "linear", "fixed"}

func (c Curve) String() string {
	if int(c) >= 0 && int(c) < len(curveNames) {
		return curveNames[c]
	}
	return fmt.Sprintf("Curve(%d)", int(c))
}

// ParseCurve reads a curve name as in the configuration.
func ParseCurve(s string) (Curve, error) {
	for i, n := range curveNames {
		if n == s {
			return Curve(i), nil
		}
	}
	return 0, fmt.Errorf("unknown volume curve %q (allowed: log, cubic, linear, fixed)", s)
}

// Volume turns the Connect volume (0..65535) into a gain.
type Volume struct {
	Curve      Curve
	RangeDB    float64 // for CurveLog; 0 means 60
	MaxPercent int     // cap: the top of the slider gives this share of the range; 0 means 100
}

// Gain is the linear gain for Connect volume v. MaxPercent scales the
// slider before the curve, so the whole slider stays usable below the cap.
func (c Volume) Gain(v uint16) float32 {
	if c.Curve == CurveFixed {
		return 1
	}
	maxp := c.MaxPercent
	if maxp <= 0 || maxp > 100 {
		maxp = 100
	}
	x := float64(v) / 65535 * float64(maxp) / 100
	switch c.Curve {
	case CurveCubic:
		return float32(x * x * x)
	case CurveLinear:
		return float32(x)
	}
	rng := c.RangeDB
	if rng <= 0 {
		rng = 60
	}
	r := math.Pow(10, rng/20)
	return float32((math.Pow(r, x) - 1) / (r - 1))
}

// NormMode selects which loudness data normalises a track.
type NormMode int

// The normalisation modes.
const (
	NormOff NormMode = iota
	NormTrack
	NormAlbum
	// NormAuto uses the album data when the track plays in an album
	// context (so the album's dynamics are kept), otherwise the track data.
	NormAuto
)

var normNames = []string{"off", "track", "album", "auto"}

func (m NormMode) String() string {
	if int(m) >= 0 && int(m) < len(normNames) {
		return normNames[m]
	}
	return fmt.Sprintf("NormMode(%d)", int(m))
}

// ParseNormMode reads a mode name as in the configuration.
func ParseNormMode(s string) (NormMode, error) {
	for i, n := range normNames {
		if n == s {
			return NormMode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown normalisation mode %q (allowed: off, track, album, auto)", s)
}

// Normalisation says how loudness data becomes a gain.
type Normalisation struct {
	Mode      NormMode
	PregainDB float64
}

// Factor is the normalisation gain for a track: 10^((gain + pregain)/20),
// lowered when needed so that factor x peak never exceeds full scale (the
// limiter: a loud master is never clipped to reach the reference
// loudness). These are librespot's "basic" semantics. Without loudness data
// (a plain Ogg file) the factor is 1.
func (n Normalisation) Factor(h *spotifyhdr.Normalisation, albumContext bool) float32 {
	if n.Mode == NormOff || h == nil {
		return 1
	}
	g, peak := h.TrackGainDB, h.TrackPeak
	if n.Mode == NormAlbum || (n.Mode == NormAuto && albumContext) {
		g, peak = h.AlbumGainDB, h.AlbumPeak
	}
	f := math.Pow(10, (float64(g)+n.PregainDB)/20)
	if peak > 0 && f*float64(peak) > 1 {
		f = 1 / float64(peak)
	}
	return float32(f)
}

// Ramp applies a gain that glides linearly to a new target over a fixed
// time, so that volume changes and normalisation steps never click.
type Ramp struct {
	cur, target float32
	step        float32 // per frame while ramping
	left        int     // frames until cur reaches target
	frames      int     // ramp length in frames
}

// NewRamp makes a ramp for audio at rate that takes d to reach a new target,
// starting at gain g.
func NewRamp(rate int, d time.Duration, g float32) Ramp {
	return Ramp{cur: g, target: g, frames: max(1, int(d.Seconds()*float64(rate)))}
}

// SetTarget starts a glide from the current gain to g.
func (r *Ramp) SetTarget(g float32) {
	if g == r.target {
		return
	}
	r.target = g
	r.left = r.frames
	r.step = (g - r.cur) / float32(r.frames)
}

// Current is the gain applied to the next frame.
func (r *Ramp) Current() float32 { return r.cur }

// Steady returns the gain when no glide is under way, so that the caller
// can fold it into the next stage's multiply instead of a pass of its own.
func (r *Ramp) Steady() (float32, bool) { return r.cur, r.left == 0 }

// Apply multiplies the interleaved samples in p by the gain.
func (r *Ramp) Apply(p []float32, channels int) {
	for r.left > 0 && len(p) >= channels {
		r.cur += r.step
		r.left--
		if r.left == 0 {
			r.cur = r.target
		}
		for c := 0; c < channels; c++ {
			p[c] *= r.cur
		}
		p = p[channels:]
	}
	if r.cur == 1 {
		return // unity: keep the decoder's samples bit-exact
	}
	g := r.cur
	for i := range p {
		p[i] *= g
	}
}

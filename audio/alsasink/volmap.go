package alsasink

import (
	"errors"
	"fmt"
	"math"
)

// DefaultVolumeRangeDB is how many dB the volume slider spans on a hardware
// mixer control when Options.RangeDB is 0: the software volume's default
// range (audio.volume_range_db), so that both feel the same.
const DefaultVolumeRangeDB = 60

// volumeMap turns the Connect volume (0..65535) into a raw value of a
// mixer control and back. With the control's dB description (its TLV) the
// slider spans the top rangeDB of the control evenly in dB, each step the
// same number of dB, which is how loudness is heard, and 0 is the control's
// bottom (silence where it has a mute value). A control whose range is
// narrower than rangeDB spans what it has. Without a dB description the
// slider maps linearly onto the raw steps.
type volumeMap struct {
	lo, hi int64     // the control's raw range
	db     *dbVolume // nil: raw steps
}

// dbVolume is the dB side of a volumeMap.
type dbVolume struct {
	pieces     []dbPiece
	top, floor float64 // 0.01 dB: volume 65535 and volume 1
	quiet      int64   // the raw value for volume 0
}

// newVolumeMap maps the control's range lo..hi (lo < hi) through its TLV
// (nil when it has none). With no usable dB description it returns the
// raw-steps map and the reason, for the log.
func newVolumeMap(lo, hi int64, tlv []uint32, rangeDB float64) (volumeMap, error) {
	m := volumeMap{lo: lo, hi: hi}
	if tlv == nil {
		return m, errors.New("the control has no dB description (TLV)")
	}
	pieces, err := parseDBTLV(tlv, lo, hi)
	if err != nil {
		return m, fmt.Errorf("its dB description is unusable: %w", err)
	}
	d, err := newDBVolume(pieces, rangeDB)
	if err != nil {
		return m, fmt.Errorf("its dB description is unusable: %w", err)
	}
	m.db = d
	return m, nil
}

func newDBVolume(pieces []dbPiece, rangeDB float64) (*dbVolume, error) {
	if rangeDB <= 0 {
		rangeDB = DefaultVolumeRangeDB
	}
	d := &dbVolume{pieces: pieces, top: math.Inf(-1)}
	bottom := math.Inf(1)
	quietMuted := false
	for i := range pieces {
		p := &pieces[i]
		if p.isMute(p.from) && !quietMuted {
			d.quiet, quietMuted = p.from, true
		}
		first, last, ok := p.levels()
		if !ok {
			continue
		}
		// Each piece is monotonic, so its extremes are at its ends.
		for _, raw := range [2]int64{first, last} {
			l := p.centiDB(raw)
			if math.IsNaN(l) || math.IsInf(l, 0) {
				return nil, fmt.Errorf("value %d has no finite level", raw)
			}
			d.top = max(d.top, l)
			if l < bottom {
				bottom = l
				if !quietMuted {
					d.quiet = raw
				}
			}
		}
	}
	if math.IsInf(d.top, -1) {
		return nil, errors.New("no value has a level")
	}
	if d.top-bottom < 1 {
		return nil, fmt.Errorf("every value has the same level (%.2f dB)", d.top/100)
	}
	d.floor = max(bottom, d.top-rangeDB*100)
	return d, nil
}

// raw is the control value for Connect volume v.
func (m *volumeMap) raw(v uint16) int64 {
	if m.db == nil {
		return rawStep(m.lo, m.hi, v)
	}
	d := m.db
	if v == 0 {
		return d.quiet
	}
	target := d.floor + (d.top-d.floor)*float64(v)/65535
	best, bestDist := d.quiet, math.Inf(1)
	for i := range d.pieces {
		raw, dist := d.pieces[i].closest(target)
		if dist < bestDist {
			best, bestDist = raw, dist
		}
	}
	return best
}

// level is the Connect volume for the control value raw: the inverse of
// raw, so that a value set on the hardware is shown as the volume that
// would set it. A value with a level below the slider's range is volume 1,
// not 0, since it is not silent.
func (m *volumeMap) level(raw int64) uint16 {
	raw = min(max(raw, m.lo), m.hi)
	if m.db == nil {
		return rawLevel(m.lo, m.hi, raw)
	}
	d := m.db
	if raw == d.quiet {
		return 0
	}
	var p *dbPiece
	var plo, phi int64
	var dist uint64 = math.MaxUint64
	for i := range d.pieces {
		q := &d.pieces[i]
		if q.isMute(raw) && raw >= q.from && raw <= q.to {
			return 0
		}
		// A value no piece covers (a gap in a DB_RANGE) takes the level of
		// the nearest covered one.
		lo, hi, ok := q.levels()
		if !ok {
			continue
		}
		if x := distance(raw, lo, hi); p == nil || x < dist {
			p, plo, phi, dist = q, lo, hi, x
		}
	}
	if p == nil {
		return 0
	}
	l := p.centiDB(min(max(raw, plo), phi))
	v := math.Round((l - d.floor) / (d.top - d.floor) * 65535)
	return uint16(min(max(v, 1), 65535))
}

// distance from x to the range lo..hi (lo <= hi; 0 inside).
func distance(x, lo, hi int64) uint64 {
	switch {
	case x < lo:
		return uint64(lo) - uint64(x)
	case x > hi:
		return uint64(x) - uint64(hi)
	}
	return 0
}

// closest finds the settable value of p, other than silence, whose level is
// nearest target, and how far its level is from it. Each kind of piece is
// monotonic in the raw value (rising or, for a malformed TLV, falling), so
// a binary search finds it.
func (p *dbPiece) closest(target float64) (int64, float64) {
	lo, hi, ok := p.levels()
	if !ok {
		return 0, math.Inf(1)
	}
	rising := p.centiDB(lo) <= p.centiDB(hi)
	past := func(raw int64) bool { // raw is at or beyond target
		if rising {
			return p.centiDB(raw) >= target
		}
		return p.centiDB(raw) <= target
	}
	if !past(hi) {
		return hi, math.Abs(p.centiDB(hi) - target)
	}
	// The first raw value in lo..hi that is past target (hi is); the
	// midpoint in uint64, since b-a may not fit in an int64.
	a, b := lo, hi
	for a < b {
		mid := a + int64((uint64(b)-uint64(a))/2)
		if past(mid) {
			b = mid
		} else {
			a = mid + 1
		}
	}
	best, bestDist := a, math.Abs(p.centiDB(a)-target)
	if a > lo {
		if d := math.Abs(p.centiDB(a-1) - target); d <= bestDist {
			best, bestDist = a-1, d
		}
	}
	return best, bestDist
}

// rawStep maps v linearly onto lo..hi (lo <= hi), rounding down.
func rawStep(lo, hi int64, v uint16) int64 {
	span := uint64(hi) - uint64(lo) // exact even where hi-lo overflows int64
	if span < 1<<47 {
		return lo + int64(span*uint64(v)/65535)
	}
	f := float64(span) * float64(v) / 65535
	if f >= float64(span) {
		return hi
	}
	return lo + int64(uint64(f))
}

// rawLevel is the inverse of rawStep: the lowest volume that rawStep maps
// to raw (lo <= raw <= hi), so that a control with fewer steps than the
// slider reads back exactly the value it was set to.
func rawLevel(lo, hi, raw int64) uint16 {
	span := uint64(hi) - uint64(lo)
	n := uint64(raw) - uint64(lo)
	if span < 1<<47 {
		return uint16((n*65535 + span - 1) / span)
	}
	v := math.Ceil(float64(n) / float64(span) * 65535)
	return uint16(min(max(v, 0), 65535))
}

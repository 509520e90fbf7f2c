package alsasink

import (
	"errors"
	"fmt"
	"math"
)

// TLV types of a control's dB description (include/uapi/sound/tlv.h).
const (
	tlvContainer    = 0
	tlvDBScale      = 1
	tlvDBLinear     = 2
	tlvDBRange      = 3
	tlvDBMinMax     = 4
	tlvDBMinMaxMute = 5

	tlvDBScaleMute = 0x10000  // DB_SCALE: the lowest value is silence
	tlvDBGainMute  = -9999999 // DB_LINEAR: a minimum this low is silence
)

// dbPiece gives the raw values lo..hi of a control their level in 0.01 dB,
// as one TLV item describes it. A control has one piece, or several when
// its TLV is a DB_RANGE. from..to is the part of lo..hi the control's own
// range allows.
type dbPiece struct {
	lo, hi   int64
	from, to int64
	kind     uint32
	// DB_SCALE: a is the level of lo and b the step; the others: a and b
	// are the levels of lo and hi.
	a, b int64
	// mute: lo is silence rather than a level.
	mute bool
}

// centiDB is the level of raw (lo <= raw <= hi, and not the mute value).
func (p *dbPiece) centiDB(raw int64) float64 {
	// Differences in uint64: exact for any lo <= raw <= hi, where int64
	// could overflow on a driver's extreme values.
	n := float64(uint64(raw) - uint64(p.lo))
	d := float64(uint64(p.hi) - uint64(p.lo))
	switch p.kind {
	case tlvDBScale:
		return float64(p.a) + n*float64(p.b)
	case tlvDBLinear:
		// Linear in amplitude between the two levels; with a mute
		// minimum, from silence.
		if d == 0 {
			return float64(p.b)
		}
		hiAmp := math.Pow(10, float64(p.b)/2000)
		loAmp := 0.0
		if !p.mute {
			loAmp = math.Pow(10, float64(p.a)/2000)
		}
		return 2000 * math.Log10(loAmp+(hiAmp-loAmp)*n/d)
	}
	// DB_MINMAX and DB_MINMAX_MUTE: linear in dB.
	if d == 0 {
		return float64(p.a)
	}
	return float64(p.a) + float64(p.b-p.a)*n/d
}

// isMute reports whether raw is this piece's silence.
func (p *dbPiece) isMute(raw int64) bool { return p.mute && raw == p.lo }

// levels is the settable range of raw values that have a level: from..to
// without the silence; ok is false when nothing is left.
func (p *dbPiece) levels() (lo, hi int64, ok bool) {
	if p.isMute(p.from) {
		if p.from == p.to {
			return 0, 0, false
		}
		return p.from + 1, p.to, true
	}
	return p.from, p.to, p.from <= p.to
}

// parseDBTLV reads a control's TLV (as alsactl.Ctl.TLV returns it) into
// the pieces that give the raw values lo..hi their levels. It takes a
// dB item found directly, inside a container, or as a DB_RANGE of them.
// The data comes from the kernel driver: nothing in it is trusted.
func parseDBTLV(tlv []uint32, lo, hi int64) ([]dbPiece, error) {
	typ, payload, _, err := tlvItem(tlv)
	if err != nil {
		return nil, err
	}
	// A container (e.g. dB plus a channel map) holds items one after
	// another; the first dB item counts, as for alsa-lib.
	for depth := 0; typ == tlvContainer; depth++ {
		if depth == 4 {
			return nil, errors.New("TLV containers nested too deep")
		}
		found := false
		for rest := payload; len(rest) > 0; {
			t, p, next, err := tlvItem(rest)
			if err != nil {
				return nil, err
			}
			if t <= tlvDBMinMaxMute {
				typ, payload, found = t, p, true
				break
			}
			rest = next
		}
		if !found {
			return nil, errors.New("no dB item in the TLV container")
		}
	}
	if typ != tlvDBRange {
		p, err := dbItem(typ, payload, lo, hi)
		if err != nil {
			return nil, err
		}
		return []dbPiece{p}, nil
	}
	var pieces []dbPiece
	for rest := payload; len(rest) > 0; {
		if len(rest) < 2 {
			return nil, errors.New("DB_RANGE entry cut short")
		}
		rlo, rhi := int64(int32(rest[0])), int64(int32(rest[1]))
		t, p, next, err := tlvItem(rest[2:])
		if err != nil {
			return nil, fmt.Errorf("DB_RANGE entry %d..%d: %w", rlo, rhi, err)
		}
		rest = next
		if t == tlvDBRange || t == tlvContainer {
			return nil, fmt.Errorf("DB_RANGE entry %d..%d: nested TLV type %d", rlo, rhi, t)
		}
		// Only the part inside the control's range can be set; the
		// levels still count from the entry's own range.
		from, to := max(rlo, lo), min(rhi, hi)
		if rlo > rhi || from > to {
			continue
		}
		piece, err := dbItem(t, p, rlo, rhi)
		if err != nil {
			return nil, fmt.Errorf("DB_RANGE entry %d..%d: %w", rlo, rhi, err)
		}
		piece.from, piece.to = from, to
		pieces = append(pieces, piece)
	}
	if len(pieces) == 0 {
		return nil, fmt.Errorf("no DB_RANGE entry covers the control's values %d..%d", lo, hi)
	}
	return pieces, nil
}

// tlvItem splits one item (type, length in bytes, payload) off tlv.
func tlvItem(tlv []uint32) (typ uint32, payload, rest []uint32, err error) {
	if len(tlv) < 2 {
		return 0, nil, nil, errors.New("TLV cut short")
	}
	n := (uint64(tlv[1]) + 3) / 4
	if n > uint64(len(tlv)-2) {
		return 0, nil, nil, fmt.Errorf("TLV type %d claims %d bytes, has %d", tlv[0], tlv[1], 4*(len(tlv)-2))
	}
	return tlv[0], tlv[2 : 2+n], tlv[2+n:], nil
}

// dbItem reads one dB item for the raw values lo..hi.
func dbItem(typ uint32, payload []uint32, lo, hi int64) (dbPiece, error) {
	if typ < tlvDBScale || typ > tlvDBMinMaxMute || typ == tlvDBRange {
		return dbPiece{}, fmt.Errorf("TLV type %d is not a dB description", typ)
	}
	if len(payload) < 2 {
		return dbPiece{}, fmt.Errorf("dB TLV type %d cut short", typ)
	}
	p := dbPiece{lo: lo, hi: hi, from: lo, to: hi, kind: typ, a: int64(int32(payload[0]))}
	switch typ {
	case tlvDBScale:
		p.b = int64(payload[1] & 0xffff)
		p.mute = payload[1]&tlvDBScaleMute != 0
	case tlvDBLinear:
		p.b = int64(int32(payload[1]))
		p.mute = p.a <= tlvDBGainMute
	default:
		p.b = int64(int32(payload[1]))
		p.mute = typ == tlvDBMinMaxMute
	}
	return p, nil
}

package alsasink

import (
	"math"
	"strings"
	"testing"
)

func tlvWord(i int32) uint32 { return uint32(i) }

// Pi headphone jack: DB_SCALE -102.39 dB, 0.01 dB steps, bottom muted;
// control range -10239..400.
var piTLV = []uint32{tlvDBScale, 8, tlvWord(-10239), tlvDBScaleMute | 1}

// A codec volume described in three pieces (DB_RANGE): 0 is silence,
// 1..60 are -70..-11 dB in 1 dB steps, 61..120 are -10.5..+4.25 dB in
// 0.25 dB steps. The control stops at 110 (+1.75 dB).
var rangeTLV = []uint32{tlvDBRange, 3 * 24,
	0, 0, tlvDBMinMaxMute, 8, tlvWord(-9000), tlvWord(-9000),
	1, 60, tlvDBScale, 8, tlvWord(-7000), 100,
	61, 120, tlvDBScale, 8, tlvWord(-1050), 25,
}

// snd-dummy's "Master Playback Volume": -50..100, -45..0 dB in 0.3 dB
// steps, no mute: a range narrower than the slider's 60 dB.
var dummyTLV = []uint32{tlvDBScale, 8, tlvWord(-4500), 30}

// levelOf is the level of raw in 0.01 dB from the parsed pieces (NaN for
// silence), written out independently of closest's search.
func levelOf(t *testing.T, m volumeMap, raw int64) float64 {
	t.Helper()
	for i := range m.db.pieces {
		p := &m.db.pieces[i]
		if raw >= p.from && raw <= p.to {
			if p.isMute(raw) {
				return math.NaN()
			}
			return p.centiDB(raw)
		}
	}
	t.Fatalf("raw %d in no piece", raw)
	return 0
}

func TestVolumeMapDB(t *testing.T) {
	for _, tc := range []struct {
		name             string
		tlv              []uint32
		lo, hi           int64
		top, floor       float64 // 0.01 dB
		quiet            int64   // raw for volume 0
		points           map[uint16]int64
		roundTripFrom    int64 // every raw from here to hi reads back as itself
		belowFloor       int64 // a raw below the slider: volume 1
		wantQuietIsLevel bool
	}{
		{name: "pi DB_SCALE", tlv: piTLV, lo: -10239, hi: 400, top: 400, floor: -5600, quiet: -10239,
			points:        map[uint16]int64{65535: 400, 32768: -2600, 1: -5600, 0: -10239},
			roundTripFrom: -5600, belowFloor: -8000},
		{name: "DB_RANGE", tlv: rangeTLV, lo: 0, hi: 110, top: 175, floor: -5825, quiet: 0,
			// -58.25 dB + 60 dB/2 = -28.25: 43 (-28 dB) is the nearest.
			points:        map[uint16]int64{65535: 110, 32768: 43, 0: 0, 1: 13},
			roundTripFrom: 13, belowFloor: 5},
		{name: "dummy, 45 dB", tlv: dummyTLV, lo: -50, hi: 100, top: 0, floor: -4500, quiet: -50,
			points:        map[uint16]int64{65535: 100, 0: -50, 1: -50, 32768: 25},
			roundTripFrom: -49, belowFloor: -50, wantQuietIsLevel: true},
		{name: "container with a channel map", tlv: []uint32{tlvContainer, 32, 0x101, 8, 3, 4, tlvDBMinMax, 8, tlvWord(-6000), 0},
			lo: 0, hi: 255, top: 0, floor: -6000, quiet: 0,
			points:        map[uint16]int64{65535: 255, 0: 0, 32768: 128},
			roundTripFrom: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := newVolumeMap(tc.lo, tc.hi, tc.tlv, 0)
			if err != nil {
				t.Fatal(err)
			}
			if m.db.top != tc.top || m.db.floor != tc.floor || m.db.quiet != tc.quiet {
				t.Errorf("top %v floor %v quiet %d, want %v %v %d", m.db.top, m.db.floor, m.db.quiet, tc.top, tc.floor, tc.quiet)
			}
			for v, want := range tc.points {
				if got := m.raw(v); got != want {
					t.Errorf("raw(%d) = %d, want %d", v, got, want)
				}
			}
			// Every volume: a rising raw value. The lowest 100 volumes
			// and every 1009th above are also compared with every value
			// of the control: none is nearer the even-dB target.
			prev := int64(math.MinInt64)
			for v := 1; v <= 65535; v++ {
				raw := m.raw(uint16(v))
				if raw < prev {
					t.Fatalf("raw(%d) = %d falls below raw(%d) = %d", v, raw, v-1, prev)
				}
				prev = raw
				if v > 100 && v%1009 != 0 {
					continue
				}
				target := tc.floor + (tc.top-tc.floor)*float64(v)/65535
				got := math.Abs(levelOf(t, m, raw) - target)
				for r := tc.lo; r <= tc.hi; r++ {
					l := levelOf(t, m, r)
					if !math.IsNaN(l) && math.Abs(l-target) < got {
						t.Fatalf("raw(%d) = %d is %.2f from the target %.2f; %d is closer", v, raw, got, target, r)
					}
				}
			}
			// What a knob sets reads back as a volume that sets it again.
			for r := tc.roundTripFrom; r <= tc.hi; r++ {
				if back := m.raw(m.level(r)); back != r {
					t.Fatalf("raw %d reads as volume %d, which sets %d", r, m.level(r), back)
				}
			}
			if got := m.level(tc.quiet); got != 0 {
				t.Errorf("level(quiet %d) = %d, want 0", tc.quiet, got)
			}
			if tc.belowFloor != tc.quiet {
				if got := m.level(tc.belowFloor); got != 1 {
					t.Errorf("level(%d), below the slider, = %d, want 1", tc.belowFloor, got)
				}
			}
			if got := m.level(tc.hi); got != 65535 {
				t.Errorf("level(hi) = %d", got)
			}
		})
	}
}

func TestVolumeMapRangeDB(t *testing.T) {
	m, err := newVolumeMap(-10239, 400, piTLV, 30)
	if err != nil {
		t.Fatal(err)
	}
	if m.db.floor != 400-3000 || m.raw(1) != -2600 || m.raw(65535) != 400 {
		t.Errorf("30 dB range: floor %v, raw(1) %d", m.db.floor, m.raw(1))
	}
	// Wider than the control: the control's bottom is the floor.
	m, _ = newVolumeMap(-10239, 400, piTLV, 200)
	if m.db.floor != -10238 {
		t.Errorf("200 dB range on a 106 dB control: floor %v, want -10238 (the lowest value that is not mute)", m.db.floor)
	}
}

// Without a dB description the slider maps onto the raw steps, and a raw
// value reads back as the lowest volume that sets it.
func TestVolumeMapRawSteps(t *testing.T) {
	for _, r := range [][2]int64{{0, 31}, {0, 255}, {-10239, 400}, {-50, 100}, {0, 65535}} {
		m, err := newVolumeMap(r[0], r[1], nil, 0)
		if err == nil || m.db != nil {
			t.Fatalf("no TLV: %v", err)
		}
		if m.raw(0) != r[0] || m.raw(65535) != r[1] || m.level(r[0]) != 0 || m.level(r[1]) != 65535 {
			t.Errorf("%v: ends raw %d..%d, levels %d..%d", r, m.raw(0), m.raw(65535), m.level(r[0]), m.level(r[1]))
		}
		for raw := r[0]; raw <= r[1]; raw++ {
			v := m.level(raw)
			if m.raw(v) != raw || (v > 0 && m.raw(v-1) == raw) {
				t.Fatalf("%v: raw %d reads as %d, which sets %d", r, raw, v, m.raw(v))
			}
		}
	}
	// Extreme ranges (64-bit longs) do not overflow.
	m, _ := newVolumeMap(math.MinInt64, math.MaxInt64, nil, 0)
	if m.raw(0) != math.MinInt64 || m.raw(65535) != math.MaxInt64 || m.level(0) != 32768 || m.level(math.MaxInt64) != 65535 {
		t.Errorf("full int64 range: %d %d %d %d", m.raw(0), m.raw(65535), m.level(0), m.level(math.MaxInt64))
	}
}

func TestParseDBTLVRefusesMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		tlv  []uint32
		want string
	}{
		{"empty", []uint32{}, "cut short"},
		{"length beyond the data", []uint32{tlvDBScale, 12, 0, 1}, "claims 12 bytes"},
		{"payload too short", []uint32{tlvDBMinMax, 4, 0}, "cut short"},
		{"not dB", []uint32{0x101, 8, 1, 2}, "not a dB description"},
		{"container without dB", []uint32{tlvContainer, 16, 0x101, 8, 1, 2}, "no dB item"},
		{"range cut", []uint32{tlvDBRange, 4, 0}, "cut short"},
		{"nested range", []uint32{tlvDBRange, 16, 0, 10, tlvDBRange, 0}, "nested"},
		{"range outside the control", []uint32{tlvDBRange, 24, 500, 600, tlvDBScale, 8, 0, 1}, "no DB_RANGE entry covers"},
		{"flat", []uint32{tlvDBMinMax, 8, tlvWord(-600), tlvWord(-600)}, "same level"},
		{"only mute", []uint32{tlvDBRange, 24, 0, 0, tlvDBScale, 8, 0, tlvDBScaleMute}, "no value has a level"},
		{"infinite", []uint32{tlvDBLinear, 8, 0, tlvWord(math.MaxInt32)}, "no finite level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := newVolumeMap(0, 100, tc.tlv, 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
			if m.db != nil || m.raw(65535) != 100 {
				t.Error("a malformed TLV did not fall back to raw steps")
			}
		})
	}
}

// DB_LINEAR is linear in amplitude: half way is -6 dB from the top, and a
// mute minimum makes the bottom silence.
func TestDBLinear(t *testing.T) {
	m, err := newVolumeMap(0, 100, []uint32{tlvDBLinear, 8, tlvWord(tlvDBGainMute), 0}, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := &m.db.pieces[0]
	if l := p.centiDB(50); math.Abs(l-(-602.06)) > 0.01 {
		t.Errorf("level of 50 = %.2f, want -6.02 dB", l/100)
	}
	if m.db.quiet != 0 || m.level(0) != 0 || m.raw(0) != 0 {
		t.Errorf("mute bottom: quiet %d", m.db.quiet)
	}
	m, err = newVolumeMap(0, 100, []uint32{tlvDBLinear, 8, tlvWord(-2000), 0}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l := m.db.pieces[0].centiDB(0); math.Abs(l-(-2000)) > 0.01 {
		t.Errorf("level of 0 = %.2f, want -20 dB", l/100)
	}
	if math.Abs(m.db.floor-(-2000)) > 1e-9 {
		t.Errorf("floor %v", m.db.floor)
	}
}

// FuzzParseDBTLV: the TLV comes from a kernel driver. Whatever it holds,
// mapping never panics and never leaves the control's range.
func FuzzParseDBTLV(f *testing.F) {
	words := func(w []uint32) []byte {
		b := make([]byte, 4*len(w))
		for i, x := range w {
			b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24)
		}
		return b
	}
	f.Add(words(piTLV), int64(-10239), int64(400), uint16(32768), int64(-3000))
	f.Add(words(rangeTLV), int64(0), int64(110), uint16(1), int64(61))
	f.Add(words(dummyTLV), int64(-50), int64(100), uint16(65535), int64(0))
	f.Add(words([]uint32{tlvDBLinear, 8, tlvWord(tlvDBGainMute), 0}), int64(0), int64(1), uint16(2), int64(1))
	f.Add(words([]uint32{tlvContainer, 16, tlvDBMinMaxMute, 8, tlvWord(-100), 100}), int64(math.MinInt64), int64(math.MaxInt64), uint16(9), int64(7))
	f.Fuzz(func(t *testing.T, data []byte, lo, hi int64, v uint16, raw int64) {
		if lo >= hi {
			return
		}
		tlv := make([]uint32, len(data)/4)
		for i := range tlv {
			tlv[i] = uint32(data[4*i]) | uint32(data[4*i+1])<<8 | uint32(data[4*i+2])<<16 | uint32(data[4*i+3])<<24
		}
		m, err := newVolumeMap(lo, hi, tlv, 0)
		if err == nil && m.db == nil {
			t.Fatal("no error and no dB map")
		}
		for _, x := range []uint16{0, 1, v, 65535} {
			if r := m.raw(x); r < lo || r > hi {
				t.Fatalf("raw(%d) = %d outside %d..%d", x, r, lo, hi)
			}
		}
		_ = m.level(raw)
		if m.level(m.raw(0)) != 0 {
			t.Fatalf("volume 0 sets %d, which reads as %d", m.raw(0), m.level(m.raw(0)))
		}
	})
}

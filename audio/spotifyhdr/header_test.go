package spotifyhdr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	want := Normalisation{TrackGainDB: -6.5, TrackPeak: 0.98, AlbumGainDB: -4.25, AlbumPeak: 1.1}
	b := append(Build(want), "OggS..."...)
	got, err := Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	// The floats sit at byte 144, little-endian, in this order.
	if math.Float32frombits(binary.LittleEndian.Uint32(b[148:])) != 0.98 {
		t.Fatal("track peak not at byte 148")
	}
}

func TestRejects(t *testing.T) {
	good := append(Build(Normalisation{TrackPeak: 1, AlbumPeak: 1}), "OggS"...)
	notOgg := append([]byte(nil), good...)
	notOgg[Size] = 'X'
	nan := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(nan[144:], math.Float32bits(float32(math.NaN())))
	huge := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(huge[152:], math.Float32bits(500))
	negPeak := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(negPeak[148:], math.Float32bits(-1))
	for name, b := range map[string][]byte{"short": good[:100], "not ogg": notOgg, "nan gain": nan, "huge album gain": huge, "negative peak": negPeak} {
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Parse(notOgg); !errors.Is(err, ErrNotOgg) {
		t.Errorf("not ogg: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(append(Build(Normalisation{TrackGainDB: -3, TrackPeak: 0.9, AlbumGainDB: -2, AlbumPeak: 0.95}), "OggS"...))
	f.Add([]byte("OggS"))
	f.Add(make([]byte, 300))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Parse(b)
		if err != nil {
			return
		}
		// Whatever parses must be safe for the gain stage.
		if n.TrackGainDB > 70 || n.AlbumGainDB > 70 || !(n.TrackPeak >= 0) || !(n.AlbumPeak >= 0) {
			t.Fatalf("accepted %+v", n)
		}
	})
}

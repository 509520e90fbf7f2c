package spotifyhdr_test

import (
	"encoding/binary"
	"testing"

	"github.com/speakerbox/speakerbox/audio/audiotest"
	"github.com/speakerbox/speakerbox/audio/spotifyhdr"
)

type oggPage struct{ off, granule int64 }

func oggPages(t *testing.T, b []byte) []oggPage {
	var ps []oggPage
	for at := 0; at < len(b); {
		n := int(b[at+26])
		size := 27 + n
		for _, l := range b[at+27 : at+27+n] {
			size += int(l)
		}
		ps = append(ps, oggPage{int64(at), int64(binary.LittleEndian.Uint64(b[at+6:]))})
		at += size
	}
	return ps
}

// The table SeekTableFor makes for a real stream guesses well: for every
// page's frame, "before" is at or before the last page that ends at or
// before that frame (where decoding must restart), and close to it.
func TestSeekTableForGuessesWell(t *testing.T) {
	for _, s := range []audiotest.Spec{{Rate: 44100, Channels: 2, Kbps: 320, Repeat: 10}, {Rate: 44100, Channels: 2, Kbps: 96}} {
		b := audiotest.Read(t, audiotest.Ogg(t, s))
		st, err := spotifyhdr.SeekTableFor(b)
		if err != nil {
			t.Fatal(err)
		}
		ps := oggPages(t, b)
		if st.Bytes != uint32(len(b)) || int64(st.Frames) != ps[len(ps)-1].granule {
			t.Fatalf("%s: table spans %d frames %d bytes; stream %d, %d", s, st.Frames, st.Bytes, ps[len(ps)-1].granule, len(b))
		}
		worst, far := int64(0), int64(0)
		for i, p := range ps[1:] {
			f := p.granule - 1 // restart page for f: the one before p or earlier
			if f < 0 {
				continue
			}
			restart := ps[i].off
			likely, before := st.Guess(f)
			if before > restart {
				t.Fatalf("%s: frame %d: before %d is past the restart page at %d", s, f, before, restart)
			}
			worst = max(worst, restart-before)
			far = max(far, abs(likely-restart))
		}
		// A table point is 1 % of the frames apart: "before" is at most
		// that (plus a page) early.
		if limit := int64(len(b))/50 + 8<<10; worst > limit {
			t.Errorf("%s: before up to %d bytes early (limit %d)", s, worst, limit)
		}
		t.Logf("%s: %d bytes; before at most %d bytes early, likely at most %d bytes off", s, len(b), worst, far)
		// Written out and parsed back, the same table.
		got, err := spotifyhdr.ParseSeekTable(spotifyhdr.BuildWithSeek(audiotest.Norm, st))
		if err != nil || got != st {
			t.Fatalf("round trip: %v", err)
		}
	}
	if _, err := spotifyhdr.SeekTableFor([]byte("OggS not really")); err == nil {
		t.Error("no error for a broken stream")
	}
	if _, err := spotifyhdr.SeekTableFor(nil); err == nil {
		t.Error("no error for nothing")
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

package main

import (
	"testing"

	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// Issue 11, end to end 2 (next, previous): skip_next plays the next track
// from its start, skip_prev the previous one, each exact at the capture
// and published.
func TestRunSkipsFromTheFake(t *testing.T) {
	r := startConnectRun(t)
	a := r.publish("track", "sa", 160, 6, 2)
	b := r.publish("track", "sb", 160, 7, 0)
	refs := [][]float32{a.ref, b.ref}
	r.transferItems("spotify:album:"+"0000000000000000000003", []playItem{a, b})
	r.pipe.readTo(r.ctx, frameRate)
	r.waitPlaying(a.uri, nil)
	got := r.pipe.samples()
	skip := startOf(t, got, a.ref)
	prev, prevAt := a.ref, skip // what plays from capture sample 0...
	from := 0
	for _, step := range []struct {
		endpoint string
		it       playItem
	}{{"skip_next", b}, {"skip_prev", a}} {
		cut := r.pipe.len()
		r.command(map[string]any{"endpoint": step.endpoint})
		j := r.awaitPiece(step.endpoint+" to "+step.it.uri, cut, step.it.ref, 0, refs...)
		// The new track's sound starts (and "playing" is published) only
		// once the reader has taken the old audio out of the pipe.
		r.waitPut(step.endpoint+" published", func(p spotifytest.ConnectStatePut) bool {
			ps := playerState(p)
			return ps.GetTrack().GetUri() == step.it.uri && ps.GetIsPlaying() && !ps.GetIsPaused() && !ps.GetIsBuffering()
		})
		got = r.pipe.samples()
		if bad := endsThenSilence(got, from, j, prev, prevAt); bad >= 0 {
			t.Fatalf("before %s, sample %d is neither the track going on nor silence: %s", step.endpoint, bad, describe(got[bad:], refs))
		}
		r.pipe.readTo(r.ctx, j+frameRate)
		got = r.pipe.samples()
		if n := continues(got, j, step.it.ref, 0); n < frameRate {
			t.Fatalf("after %s only %d samples follow %s from its start", step.endpoint, n, step.it.uri)
		}
		prev, prevAt, from = step.it.ref, 0, j
	}
}

package main

import (
	"testing"

	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// Issue 11, end to end 2 (repeat, queue): repeating the track plays it
// again, a queued track plays next, and repeating the context goes back
// to its first track after the last; each hand-over gapless and exact to
// the sample, each option published.
func TestRunRepeatAndQueueFromTheFake(t *testing.T) {
	r := startConnectRun(t)
	a := r.publish("track", "ra", 160, 8, 0)
	b := r.publish("track", "rb", 160, 9, 0)
	q := r.publish("track", "rq", 160, 10, 0)
	refs := [][]float32{a.ref, b.ref, q.ref}
	r.transferItems("spotify:album:"+"0000000000000000000004", []playItem{a, b})
	r.pipe.readTo(r.ctx, frameRate)
	r.waitPlaying(a.uri, nil)
	skip := startOf(t, r.pipe.samples(), a.ref)

	// at: where the capture's current item started; its reference.
	at, cur := -skip, a
	next := func(it playItem) {
		t.Helper()
		end := at + len(cur.ref) // gapless: the next item starts right here
		j := r.awaitPiece(it.uri+" after "+cur.uri, end, it.ref, 0, refs...)
		got := r.pipe.samples()
		if j != end {
			t.Fatalf("%s starts at sample %d, want %d right after %s: %s", it.uri, j, end, cur.uri, describe(got[max(at, 0):], refs))
		}
		if n := continues(got, max(at, 0), cur.ref, max(at, 0)-at); n < end-max(at, 0) {
			t.Fatalf("%s differs at sample %d: %s", cur.uri, max(at, 0)+n, describe(got[max(at, 0)+n:], refs))
		}
		at, cur = j, it
		r.pipe.readTo(r.ctx, at+frameRate)
		r.waitPlaying(it.uri, nil)
	}
	r.command(map[string]any{"endpoint": "set_repeating_track", "value": true})
	r.waitPut("repeating track", func(p spotifytest.ConnectStatePut) bool {
		return playerState(p).GetOptions().GetRepeatingTrack()
	})
	next(a)

	r.command(map[string]any{"endpoint": "set_repeating_track", "value": false})
	r.command(map[string]any{"endpoint": "set_repeating_context", "value": true})
	r.command(map[string]any{"endpoint": "add_to_queue", "track": map[string]any{"uri": q.uri}})
	r.waitPut("queue and options", func(p spotifytest.ConnectStatePut) bool {
		ps := playerState(p)
		o := ps.GetOptions()
		nt := ps.GetNextTracks()
		return !o.GetRepeatingTrack() && o.GetRepeatingContext() && len(nt) > 1 &&
			nt[0].GetUri() == q.uri && nt[0].GetProvider() == "queue" && nt[1].GetUri() == b.uri
	})
	next(q)
	next(b)
	next(a)
}

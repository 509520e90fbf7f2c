package main

import (
	"fmt"
	"slices"
	"testing"

	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// Issue 11, end to end 2 (shuffle): shuffling publishes the rest of the
// album in another order, the next track heard is the first one of that
// order, and unshuffling puts the album's order back after it.
func TestRunShuffleFromTheFake(t *testing.T) {
	r := startConnectRun(t)
	// Ten tracks: the chance that a shuffle keeps the nine after the
	// current one in order is 1 in 362880.
	var items []playItem
	oggs := map[string][]byte{}
	for i := range 10 {
		ogg := spotifytest.MediaOgg(t, 96, 20+i, 0)
		it := spotifytest.MediaItem{URI: spotifytest.MediaURI("track", fmt.Sprint("sh", i)), Ogg: ogg, Name: fmt.Sprint("Shuffled ", i),
			Artists: []string{"Band"}, Album: "Album"}
		spotifytest.PublishMedia(t, r.svc.Spclient, r.svc.CDN, r.svc.Dialer.APKeyTable, spotifytest.ServiceCDNHosts, it)
		oggs[it.URI] = ogg
		items = append(items, playItem{uri: it.URI})
	}
	items[0].ref = referenceDecode(t, oggs[items[0].uri])
	r.transferItems("spotify:album:"+"0000000000000000000006", items)
	r.pipe.readTo(r.ctx, frameRate)
	r.waitPlaying(items[0].uri, nil)

	var album []string
	for _, it := range items[1:] {
		album = append(album, it.uri)
	}
	nextOf := func(p spotifytest.ConnectStatePut) []string {
		var out []string
		for _, nt := range playerState(p).GetNextTracks() {
			if u := nt.GetUri(); u != "" && nt.GetProvider() != "queue" && u != "spotify:delimiter" {
				out = append(out, u)
			}
		}
		return out
	}
	r.command(map[string]any{"endpoint": "set_shuffling_context", "value": true})
	p := r.waitPut("shuffled", func(p spotifytest.ConnectStatePut) bool {
		return playerState(p).GetOptions().GetShufflingContext()
	})
	order := nextOf(p)
	sorted := slices.Clone(order)
	slices.Sort(sorted)
	want := slices.Clone(album)
	slices.Sort(want)
	if !slices.Equal(sorted, want) {
		t.Fatalf("shuffled next tracks %v, want a permutation of %v", order, album)
	}
	if slices.Equal(order, album) {
		t.Fatalf("shuffle kept the album's order %v", order)
	}

	first := playItem{uri: order[0], ref: referenceDecode(t, oggs[order[0]])}
	cut := r.pipe.len()
	r.command(map[string]any{"endpoint": "skip_next"})
	j := r.awaitPiece("the first shuffled track", cut, first.ref, 0, items[0].ref, first.ref)
	r.pipe.readTo(r.ctx, j+frameRate)
	if n := continues(r.pipe.samples(), j, first.ref, 0); n < frameRate {
		t.Fatalf("after skip_next only %d samples follow %s", n, first.uri)
	}
	r.waitPlaying(first.uri, nil)

	r.command(map[string]any{"endpoint": "set_shuffling_context", "value": false})
	p = r.waitPut("unshuffled", func(p spotifytest.ConnectStatePut) bool {
		return !playerState(p).GetOptions().GetShufflingContext()
	})
	k := slices.Index(album, first.uri)
	if got := nextOf(p); !slices.Equal(got, album[k+1:]) {
		t.Fatalf("after unshuffling on %s the next tracks are %v, want %v", first.uri, got, album[k+1:])
	}
}

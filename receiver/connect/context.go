package connect

import (
	"bytes"
	"maps"
	"slices"
	"strconv"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
)

// track is one playable item. Its metadata map is shared and never
// written after the track is made.
type track struct {
	uri, uid string
	gid      []byte
	metadata map[string]string
	provider string // "context", "queue" or "autoplay"
	page     uint32 // index.page and index.track within the context
	index    uint32
}

// pendingPage is a page of the context whose tracks are not loaded yet.
type pendingPage struct {
	url    string
	tracks []*connectpb.ContextTrack
}

// playContext is the context being played. Its slices are replaced, never
// written in place, so States can share them.
type playContext struct {
	uri, url     string
	metadata     map[string]string
	restrictions *connectpb.Restrictions
	provider     string

	tracks  []track       // loaded tracks, in context order
	order   []int         // play order (indices into tracks) when shuffled; nil otherwise
	pos     int           // current position in play order; -1 before the start
	pending []pendingPage // pages still to load, in order
	nextURL string        // next_page_url after the last known page
	pages   uint32        // pages loaded so far
}

func (c *playContext) len() int { return len(c.tracks) }

// at is the track at play position p.
func (c *playContext) at(p int) track {
	if c.order != nil {
		return c.tracks[c.order[p]]
	}
	return c.tracks[p]
}

// posOf is the play position of track index i.
func (c *playContext) posOf(i int) int {
	if c.order == nil {
		return i
	}
	return slices.Index(c.order, i)
}

func (c *playContext) hasMore() bool { return len(c.pending) > 0 || c.nextURL != "" }

// nextPageURL is the URL to load to extend the context.
func (c *playContext) nextPageURL() string {
	if len(c.pending) > 0 {
		return c.pending[0].url
	}
	return c.nextURL
}

func toTrack(ct *connectpb.ContextTrack, provider string, page, index uint32) (track, bool) {
	if ct == nil || !validTrackURI(ct.GetUri()) {
		// Local files, ads and ids without a URI cannot be played.
		return track{}, false
	}
	return track{uri: ct.Uri, uid: ct.Uid, gid: ct.Gid, metadata: ct.Metadata, provider: provider, page: page, index: index}, true
}

// appendPage adds a loaded page's tracks (copy on write).
func (c *playContext) appendPage(tracks []*connectpb.ContextTrack, rng *prng) {
	var add []track
	for i, ct := range tracks {
		if t, ok := toTrack(ct, c.provider, c.pages, uint32(i)); ok {
			add = append(add, t)
		}
	}
	c.pages++
	if len(add) == 0 {
		return
	}
	n := len(c.tracks)
	c.tracks = append(slices.Clip(c.tracks), add...)
	if c.order != nil {
		// New tracks join the part of the shuffle not yet played.
		order := make([]int, len(c.order), len(c.tracks))
		copy(order, c.order)
		for i := n; i < len(c.tracks); i++ {
			order = append(order, i)
		}
		tail := order[c.pos+1:]
		rng.Shuffle(len(tail), func(i, j int) { tail[i], tail[j] = tail[j], tail[i] })
		c.order = order
	}
}

// absorb takes in the pending pages that came with their tracks.
func (c *playContext) absorb(rng *prng) {
	for len(c.pending) > 0 && (len(c.pending[0].tracks) > 0 || c.pending[0].url == "") {
		p := c.pending[0]
		c.pending = c.pending[1:]
		c.appendPage(p.tracks, rng)
	}
}

// pageLoaded takes in a page fetched from nextPageURL.
func (c *playContext) pageLoaded(p *connectpb.ContextPage, rng *prng) {
	if len(c.pending) > 0 {
		c.pending = c.pending[1:]
		if len(c.pending) == 0 && p.GetNextPageUrl() != "" {
			c.nextURL = p.GetNextPageUrl()
		}
	} else {
		c.nextURL = p.GetNextPageUrl()
	}
	c.appendPage(p.GetTracks(), rng)
	c.absorb(rng)
}

func newContext(pc *connectpb.Context, provider string, rng *prng) playContext {
	c := playContext{
		uri:          pc.GetUri(),
		url:          pc.GetUrl(),
		metadata:     pc.GetMetadata(),
		restrictions: pc.GetRestrictions(),
		provider:     provider,
		pos:          -1,
	}
	for _, p := range pc.GetPages() {
		if p == nil {
			continue
		}
		c.pending = append(c.pending, pendingPage{url: p.GetPageUrl(), tracks: p.GetTracks()})
		c.nextURL = p.GetNextPageUrl()
	}
	c.absorb(rng)
	return c
}

// needsResolve: a context from a command is resolved when it brings
// nothing to play or load, or its track count disagrees with its metadata.
func needsResolve(pc *connectpb.Context) bool {
	pages := pc.GetPages()
	usable, count, more := false, 0, false
	for _, p := range pages {
		if len(p.GetTracks()) > 0 || p.GetPageUrl() != "" || p.GetNextPageUrl() != "" {
			usable = true
		}
		if p.GetPageUrl() != "" || p.GetNextPageUrl() != "" {
			more = true
		}
		count += len(p.GetTracks())
	}
	if !usable {
		return true
	}
	if n, err := strconv.Atoi(pc.GetMetadata()["playlist_number_of_tracks"]); err == nil && !more && n != count {
		return true
	}
	return false
}

// target names a track to start from.
type target struct {
	uid, uri string
	gid      []byte
	index    int // -1: none
}

func (t target) empty() bool { return t.uid == "" && t.uri == "" && len(t.gid) == 0 && t.index < 0 }

// find returns the track index matching t (uid, then uri, then gid, then
// index), or -1.
func (c *playContext) find(t target) int {
	if t.uid != "" {
		if i := slices.IndexFunc(c.tracks, func(x track) bool { return x.uid == t.uid }); i >= 0 {
			return i
		}
	}
	if t.uri != "" {
		if i := slices.IndexFunc(c.tracks, func(x track) bool { return x.uri == t.uri }); i >= 0 {
			return i
		}
	}
	if len(t.gid) > 0 {
		if i := slices.IndexFunc(c.tracks, func(x track) bool { return bytes.Equal(x.gid, t.gid) }); i >= 0 {
			return i
		}
	}
	if t.index >= 0 && t.index < len(c.tracks) {
		return t.index
	}
	return -1
}

// shuffleFrom makes a new play order with track index first first and the
// rest shuffled.
func (c *playContext) shuffleFrom(first int, rng *prng) {
	order := make([]int, 0, len(c.tracks))
	if first >= 0 {
		order = append(order, first)
	}
	for i := range c.tracks {
		if i != first {
			order = append(order, i)
		}
	}
	start := 0
	if first >= 0 {
		start = 1
	}
	tail := order[start:]
	rng.Shuffle(len(tail), func(i, j int) { tail[i], tail[j] = tail[j], tail[i] })
	c.order = order
	if first >= 0 {
		c.pos = 0
	} else {
		c.pos = -1
	}
}

// unshuffle goes back to context order, keeping the current track.
func (c *playContext) unshuffle() {
	if c.order != nil && c.pos >= 0 && c.pos < len(c.order) {
		c.pos = c.order[c.pos]
	}
	c.order = nil
}

// mergeMetadata returns base with over's entries on top (a new map).
func mergeMetadata(base, over map[string]string) map[string]string {
	if len(over) == 0 {
		return base
	}
	m := make(map[string]string, len(base)+len(over))
	maps.Copy(m, base)
	maps.Copy(m, over)
	return m
}

// order0 is the track index at play position p.
func (c *playContext) order0(p int) int {
	if c.order != nil {
		return c.order[p]
	}
	return p
}

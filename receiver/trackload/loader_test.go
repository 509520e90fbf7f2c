package trackload

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	emdpb "github.com/devgianlu/go-librespot/proto/spotify/extendedmetadata"
	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/speakerbox/speakerbox/audio/decrypt"
	"github.com/speakerbox/speakerbox/audio/spotifyhdr"
	"github.com/speakerbox/speakerbox/receiver/apconn"
	"github.com/speakerbox/speakerbox/receiver/media"
	"github.com/speakerbox/speakerbox/receiver/spclient"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

var testHeaderNorm = spotifyhdr.Normalisation{TrackGainDB: -4.25, TrackPeak: 0.93, AlbumGainDB: -3, AlbumPeak: 0.97}

func trackItem(tb testing.TB, name string, variant int) spotifytest.MediaItem {
	return spotifytest.MediaItem{
		URI: spotifytest.MediaURI("track", name), Ogg: spotifytest.MediaOgg(tb, 160, variant, 2),
		HeaderNorm: testHeaderNorm,
		Name:       name, Artists: []string{"Ada", "Grace"}, Album: "Compiled", Number: 3, DurationMs: 6400, Explicit: true,
		Covers: [][]byte{{0xaa, 0x01}, {0xbb, 0x02}},
		Norm:   &media.Norm{LoudnessDB: -9.5, TruePeakDB: -0.5}, AlbumNorm: &media.Norm{LoudnessDB: -10, TruePeakDB: -0.25},
	}
}

func TestLoadTrack(t *testing.T) {
	e := newTestEnv(t, spotifytest.APFakeConfig{})
	it := trackItem(t, "first", 0)
	it.Formats = []metadatapb.AudioFile_Format{metadatapb.AudioFile_MP3_320, metadatapb.AudioFile_OGG_VORBIS_96,
		metadatapb.AudioFile_OGG_VORBIS_160, metadatapb.AudioFile_OGG_VORBIS_320, metadatapb.AudioFile_AAC_24}
	pub := e.publish(t, it)
	ld, err := e.loader(t, nil).Load(testCtx(t), it.URI, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Close()

	want := Meta{Kind: KindTrack, URI: it.URI, Name: "first", Artists: []string{"Ada", "Grace"}, Album: "Compiled",
		Covers: []string{"https://i.scdn.co/image/aa01", "https://i.scdn.co/image/bb02"}, Number: 3, DurationMs: 6400, Explicit: true}
	if fmt.Sprint(ld.Meta) != fmt.Sprint(want) {
		t.Errorf("Meta = %+v\nwant   %+v", ld.Meta, want)
	}
	if ld.Bitrate != 160 || ld.FileID != pub.MediaFileID(metadatapb.AudioFile_OGG_VORBIS_160) || ld.PlayedURI != it.URI {
		t.Errorf("file %s at %d kbps, played %s; want %s at 160, %s", ld.FileID, ld.Bitrate, ld.PlayedURI,
			pub.MediaFileID(metadatapb.AudioFile_OGG_VORBIS_160), it.URI)
	}
	if ld.Norm == nil || *ld.Norm != *it.Norm || ld.AlbumNorm == nil || *ld.AlbumNorm != *it.AlbumNorm {
		t.Errorf("Norm %v, AlbumNorm %v; want %v, %v", ld.Norm, ld.AlbumNorm, *it.Norm, *it.AlbumNorm)
	}
	if ld.Track.ID != it.URI || ld.Track.Size != int64(len(pub.File)) || string(ld.Track.Key) != string(pub.Key[:]) {
		t.Errorf("Track id %q size %d; want %q %d and the published key", ld.Track.ID, ld.Track.Size, it.URI, len(pub.File))
	}
	got := readPlain(t, ld, 7000)
	samePlain(t, got, pub.Plain)
	if n, err := spotifyhdr.Parse(got); err != nil || n != testHeaderNorm {
		t.Errorf("header of the stream: %+v, %v; want %+v", n, err, testHeaderNorm)
	}

	// One metadata request for both kinds, one interactive storage-resolve
	// for the 160 kbps file, one key request for (gid, file).
	reqs := e.sp.SpclientMediaRequests()
	if len(reqs) != 1 || len(reqs[0].GetEntityRequest()) != 1 || len(reqs[0].GetEntityRequest()[0].GetQuery()) != 2 {
		t.Errorf("metadata requests %v; want one with TRACK_V4 and AUDIO_FILES", reqs)
	}
	res := e.sp.SpclientMediaResolves()
	if len(res) != 1 || res[0] != (spotifytest.SpclientMediaResolve{Kind: "interactive", Format: 1, FileID: ld.FileID}) {
		t.Errorf("storage-resolves %+v; want one interactive for format 1", res)
	}
	keys := e.ap.KeyRequests()
	if len(keys) != 1 || keys[0].GID != pub.GID || hex.EncodeToString(keys[0].FileID[:]) != ld.FileID {
		t.Errorf("key requests %+v; want one for the track's gid and file", keys)
	}
	// The memory bound holds through the loader: at most 16 chunks, over
	// a file more than 16 chunks long.
	st, ok := ld.StreamStats()
	if chunks := (ld.Track.Size + testChunk - 1) / testChunk; !ok || st.MaxChunksHeld > 16 || chunks <= 16 {
		t.Errorf("stream stats %+v (%v) over %d chunks; want at most 16 held of more than 16", st, ok, chunks)
	}
	if ld.Timings.Total <= 0 || ld.Timings.Metadata <= 0 || ld.Timings.FirstChunk <= 0 {
		t.Errorf("timings not recorded: %+v", ld.Timings)
	}
	if err := ld.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ld.Track.Source.ReadAt(make([]byte, 1), 0); err == nil {
		t.Error("the stream still reads after Close")
	}
}

func TestLoadEpisode(t *testing.T) {
	e := newTestEnv(t, spotifytest.APFakeConfig{})
	it := spotifytest.MediaItem{
		URI: spotifytest.MediaURI("episode", "pod"), Ogg: spotifytest.MediaOgg(t, 96, 2, 1),
		Name: "Episode 12", Show: "The Show", Publisher: "Pub Co", DurationMs: 6400,
		Formats: []metadatapb.AudioFile_Format{metadatapb.AudioFile_OGG_VORBIS_96, metadatapb.AudioFile_MP3_96},
		Covers:  [][]byte{{0x01}},
	}
	pub := e.publish(t, it)
	ld, err := e.loader(t, func(c *Config) { c.Bitrate = 320 }).Load(testCtx(t), it.URI, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Close()
	want := Meta{Kind: KindEpisode, URI: it.URI, Name: "Episode 12", Artists: []string{"Pub Co"}, Album: "The Show",
		Covers: []string{"https://i.scdn.co/image/01"}, DurationMs: 6400}
	if fmt.Sprint(ld.Meta) != fmt.Sprint(want) {
		t.Errorf("Meta = %+v\nwant   %+v", ld.Meta, want)
	}
	if ld.Bitrate != 96 || ld.Norm != nil {
		t.Errorf("bitrate %d, norm %v; want 96 and none", ld.Bitrate, ld.Norm)
	}
	samePlain(t, readPlain(t, ld, 1<<16), pub.Plain)
}

// Bitrate choice: the configured one, else 320 -> 160 -> 96; a track with
// only 96 kbps plays at 96 whatever is configured.
func TestLoadBitrate(t *testing.T) {
	e := newTestEnv(t, spotifytest.APFakeConfig{})
	all := trackItem(t, "all", 0)
	all.Formats = []metadatapb.AudioFile_Format{metadatapb.AudioFile_OGG_VORBIS_96, metadatapb.AudioFile_OGG_VORBIS_160,
		metadatapb.AudioFile_OGG_VORBIS_320, metadatapb.AudioFile_MP3_320}
	e.publish(t, all)
	only96 := trackItem(t, "only96", 1)
	only96.Formats = []metadatapb.AudioFile_Format{metadatapb.AudioFile_MP3_320, metadatapb.AudioFile_OGG_VORBIS_96}
	pub96 := e.publish(t, only96)
	for _, c := range []struct {
		uri       string
		cfg, want int
	}{{all.URI, 320, 320}, {all.URI, 160, 160}, {all.URI, 96, 96}, {only96.URI, 320, 96}, {only96.URI, 160, 96}} {
		ld, err := e.loader(t, func(cfg *Config) { cfg.Bitrate = c.cfg }).Load(testCtx(t), c.uri, false)
		if err != nil {
			t.Fatal(err)
		}
		if ld.Bitrate != c.want {
			t.Errorf("%s at audio.bitrate %d: %d kbps, want %d", c.uri, c.cfg, ld.Bitrate, c.want)
		}
		if c.uri == only96.URI {
			samePlain(t, readPlain(t, ld, 1<<16), pub96.Plain)
		}
		_ = ld.Close()
	}
}

// A track restricted in the account's country plays its alternative: the
// alternative's files, key and audio, under the URI asked for.
func TestLoadRelink(t *testing.T) {
	e := newTestEnv(t, spotifytest.APFakeConfig{Country: "SE"})
	alt := trackItem(t, "alt", 3)
	alt.CountriesAllowed = "NOSEDK"
	restricted := trackItem(t, "alt-restricted", 4) // an alternative that may not play either
	restricted.CountriesForbidden = "FISE"
	it := trackItem(t, "orig", 0)
	it.CountriesAllowed = "DKNO"
	it.Alternatives = []spotifytest.MediaItem{restricted, alt}
	pub := e.publish(t, it)
	ld, err := e.loader(t, nil).Load(testCtx(t), it.URI, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Close()
	if ld.Meta.URI != it.URI || ld.PlayedURI != alt.URI || ld.Meta.Name != "orig" {
		t.Errorf("Meta.URI %s, PlayedURI %s, name %q; want %s, %s, orig", ld.Meta.URI, ld.PlayedURI, ld.Meta.Name, it.URI, alt.URI)
	}
	altPub := pub.Alternatives[1]
	samePlain(t, readPlain(t, ld, 1<<16), altPub.Plain)
	keys := e.ap.KeyRequests()
	if len(keys) != 1 || keys[0].GID != altPub.GID {
		t.Errorf("key requests %+v; want one for the alternative's gid", keys)
	}
	reqs := e.sp.SpclientMediaRequests()
	if len(reqs) != 2 || reqs[1].GetEntityRequest()[0].GetEntityUri() != alt.URI ||
		reqs[1].GetEntityRequest()[0].GetQuery()[0].GetExtensionKind() != emdpb.ExtensionKind_AUDIO_FILES {
		t.Errorf("metadata requests %v; want the track, then AUDIO_FILES of the alternative", reqs)
	}
}

func TestLoadUnavailable(t *testing.T) {
	type setup func(t *testing.T, e *testEnv) string
	trk := func(edit func(*spotifytest.MediaItem)) setup {
		return func(t *testing.T, e *testEnv) string {
			it := trackItem(t, t.Name(), 0)
			edit(&it)
			e.publish(t, it)
			return it.URI
		}
	}
	cases := []struct {
		name   string
		setup  setup
		reason string
	}{
		{"restricted without alternative", trk(func(it *spotifytest.MediaItem) { it.CountriesForbidden = "DKSE" }), "restricted in SE"},
		{"every alternative restricted", trk(func(it *spotifytest.MediaItem) {
			it.CountriesAllowed = "DK"
			alt := trackItem(t, "alt-dk", 1)
			alt.CountriesAllowed = "DK"
			it.Alternatives = []spotifytest.MediaItem{alt}
		}), "restricted in SE"},
		{"no Ogg Vorbis file", trk(func(it *spotifytest.MediaItem) {
			it.Formats = []metadatapb.AudioFile_Format{metadatapb.AudioFile_MP3_320, metadatapb.AudioFile_AAC_24, metadatapb.AudioFile_FLAC_FLAC}
		}), "no Ogg Vorbis file"},
		{"key refused", func(t *testing.T, e *testEnv) string {
			it := trackItem(t, t.Name(), 0)
			pub := e.publish(t, it)
			var fid [20]byte
			b, _ := hex.DecodeString(pub.MediaFileID(metadatapb.AudioFile_OGG_VORBIS_160))
			copy(fid[:], b)
			e.ap.RefuseKey(pub.GID, fid, 0x0002)
			return it.URI
		}, "audio key refused"},
		{"not published (status 404)", func(t *testing.T, e *testEnv) string { return spotifytest.MediaURI("track", "nowhere") }, "status 404"},
		{"TRACK_V4 status 403", func(t *testing.T, e *testEnv) string {
			it := trackItem(t, t.Name(), 0)
			e.publish(t, it)
			e.sp.SetSpclientMediaStatus(it.URI, emdpb.ExtensionKind_TRACK_V4, 403)
			return it.URI
		}, "status 403"},
		{"track without gid", func(t *testing.T, e *testEnv) string {
			uri := spotifytest.MediaURI("track", "nogid")
			e.sp.SetSpclientMediaTrack(uri, &metadatapb.Track{})
			return uri
		}, "gid of 0 bytes"},
		{"empty episode", func(t *testing.T, e *testEnv) string {
			uri := spotifytest.MediaURI("episode", "empty")
			var gid = make([]byte, 16)
			_, g, _ := media.GID(uri)
			copy(gid, g)
			e.sp.SetSpclientMediaEpisode(uri, &metadatapb.Episode{Gid: gid})
			return uri
		}, "no Ogg Vorbis file"},
		{"episode restricted", func(t *testing.T, e *testEnv) string {
			it := spotifytest.MediaItem{URI: spotifytest.MediaURI("episode", "far"), Ogg: spotifytest.MediaOgg(t, 96, 0, 1), CountriesAllowed: "US"}
			e.publish(t, it)
			return it.URI
		}, "restricted in SE"},
		{"storage-resolve RESTRICTED", trk(func(it *spotifytest.MediaItem) { it.Hosts = func(int) []string { return nil } }), "storage-resolve"},
		{"album URI", func(t *testing.T, e *testEnv) string { return spotifytest.MediaURI("album", "x") }, "neither a track nor an episode"},
		{"malformed URI", func(t *testing.T, e *testEnv) string { return "spotify:track:short" }, "not a track or episode URI"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t, spotifytest.APFakeConfig{Country: "SE"})
			uri := c.setup(t, e)
			ld, err := e.loader(t, nil).Load(testCtx(t), uri, false)
			if err == nil {
				_ = ld.Close()
				t.Fatal("loaded")
			}
			var ue *UnavailableError
			if !errors.Is(err, ErrUnavailable) || !errors.As(err, &ue) || ue.URI != uri {
				t.Fatalf("error %v (%T); want an *UnavailableError for %s", err, err, uri)
			}
			if !strings.Contains(err.Error(), c.reason) {
				t.Errorf("error %q does not say %q", err, c.reason)
			}
		})
	}
}

// blockingKeys never answers: only the loader's own timeout ends a request.
type blockingKeys struct{}

func (blockingKeys) AudioKey(ctx context.Context, _ [16]byte, _ [20]byte) ([16]byte, error) {
	<-ctx.Done()
	return [16]byte{}, ctx.Err()
}

// A key that does not come (the AP's timeout, ours, a lost connection) is
// an error to retry, not an unavailable item.
func TestLoadKeyNotThere(t *testing.T) {
	now := func(time.Duration) <-chan time.Time {
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c
	}
	cases := []struct {
		name string
		ap   spotifytest.APFakeConfig
		edit func(*Config, *spotifytest.APFake)
		want error
	}{
		{"access point timeout", spotifytest.APFakeConfig{After: now}, nil, apconn.ErrKeyTimeout},
		{"our timeout", spotifytest.APFakeConfig{}, func(c *Config, _ *spotifytest.APFake) {
			c.Keys, c.KeyTimeout = blockingKeys{}, time.Nanosecond
		}, apconn.ErrKeyTimeout},
		{"connection lost", spotifytest.APFakeConfig{}, func(_ *Config, ap *spotifytest.APFake) { ap.Lose() }, apconn.ErrConnLost},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t, c.ap)
			it := trackItem(t, "silent", 0)
			pub := e.publish(t, it)
			var fid [20]byte
			b, _ := hex.DecodeString(pub.MediaFileID(metadatapb.AudioFile_OGG_VORBIS_160))
			copy(fid[:], b)
			e.ap.SilenceKey(pub.GID, fid)
			l := e.loader(t, func(cfg *Config) {
				if c.edit != nil {
					c.edit(cfg, e.ap)
				}
			})
			ld, err := l.Load(testCtx(t), it.URI, false)
			if err == nil {
				_ = ld.Close()
				t.Fatal("loaded")
			}
			if !errors.Is(err, c.want) || errors.Is(err, ErrUnavailable) {
				t.Fatalf("error %v; want %v and not unavailable", err, c.want)
			}
		})
	}
}

// The CDN drops the connection mid-file, and the host answers 503 from
// then on: the stream goes on from the next host at the byte where the
// drop cut it, with identical bytes.
func TestLoadCDNDropThen503(t *testing.T) {
	e := newTestEnv(t, spotifytest.APFakeConfig{})
	it := trackItem(t, "dropped", 0)
	pub := e.publish(t, it)
	ld, err := e.loader(t, nil).Load(testCtx(t), it.URI, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Close()
	// Chunk 0 came with Load; the read-ahead starts with the first read
	// and meets the drop at chunk 1.
	const cut = 1000
	e.cdn.CDNDropAfter("cdn-a.test", cut)
	s := streamOf(t, ld)
	if _, err := s.ReadAt(make([]byte, 1), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitIdle(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	// cdn-a is down for good; one failure on cdn-b sends the stream back
	// to cdn-a once, which answers 503, and on to cdn-b again.
	e.cdn.CDNUnavailable("cdn-a.test", -1)
	e.cdn.CDNUnavailable("cdn-b.test", 1)
	samePlain(t, readPlain(t, ld, 4096), pub.Plain)

	rs := e.cdn.CDNRanges()
	drop := -1
	for i, r := range rs {
		if r.Host == "cdn-a.test" && r.First > 0 {
			drop = i
			break
		}
	}
	if drop < 0 || rs[drop].Bytes != cut || rs[drop].First != testChunk {
		t.Fatalf("no request to cdn-a cut after %d bytes at chunk 1: %+v", cut, rs)
	}
	if r := rs[drop+1]; r.Host != "cdn-b.test" || r.First != rs[drop].First+cut || r.Status != 206 {
		t.Errorf("after the drop %+v; want cdn-b from byte %d", r, rs[drop].First+cut)
	}
	var a503 int
	for _, r := range rs[drop+1:] {
		if r.Host == "cdn-a.test" && r.Status != 503 {
			t.Errorf("cdn-a after the drop: %+v", r)
		}
		if r.Host == "cdn-a.test" {
			a503++
		}
	}
	// b 503 -> a 503: every URL failed, so a fresh storage-resolve, whose
	// first URL (a) answers 503 again, then b serves the rest.
	if a503 != 2 || len(e.sp.SpclientMediaResolves()) != 2 {
		t.Errorf("%d requests to cdn-a answered 503 and %d storage-resolves; want 2 and 2: %+v",
			a503, len(e.sp.SpclientMediaResolves()), rs)
	}
	if st := s.Stats(); st.Failovers < 3 {
		t.Errorf("stats %+v: no failover", st)
	}
}

// A 403 (expired URL) on the first host: a fresh storage-resolve, whose
// new URL serves the rest, with identical bytes.
func TestLoadExpired403(t *testing.T) {
	e := newTestEnv(t, spotifytest.APFakeConfig{})
	it := trackItem(t, "expired", 0)
	it.Hosts = func(call int) []string {
		if call == 1 {
			return []string{"cdn-a.test"}
		}
		return []string{"cdn-b.test"}
	}
	pub := e.publish(t, it)
	ld, err := e.loader(t, nil).Load(testCtx(t), it.URI, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Close()
	e.cdn.CDNExpire("cdn-a.test", true)
	samePlain(t, readPlain(t, ld, 5000), pub.Plain)
	if res := e.sp.SpclientMediaResolves(); len(res) != 2 {
		t.Errorf("storage-resolves %+v; want 2 (the first and one after the 403)", res)
	}
	_, bytesB := e.cdn.CDNStats("cdn-b.test")
	if want := int64(len(pub.File) - testChunk); bytesB != want {
		t.Errorf("cdn-b served %d bytes, want the %d after the first chunk", bytesB, want)
	}
}

// A URL is resolved again before it expires (by the injected clock), with
// no 403 needed.
func TestLoadRefreshBeforeExpiry(t *testing.T) {
	e := newTestEnv(t, spotifytest.APFakeConfig{})
	it := trackItem(t, "ages", 0)
	it.Expires = func(call int) time.Time { return testStart.Add(time.Duration(call) * 10 * time.Minute) }
	pub := e.publish(t, it)
	ld, err := e.loader(t, nil).Load(testCtx(t), it.URI, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Close()
	s := streamOf(t, ld)
	buf := make([]byte, 10)
	if _, err := s.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitIdle(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sp.SpclientMediaResolves()); n != 1 {
		t.Fatalf("%d storage-resolves before the clock moved, want 1", n)
	}
	e.clock.Set(testStart.Add(9*time.Minute + 50*time.Second)) // inside the source's 30 s margin
	samePlain(t, readPlain(t, ld, 8192), pub.Plain)
	res := e.sp.SpclientMediaResolves()
	if len(res) != 2 {
		t.Fatalf("storage-resolves %+v; want a second one before the expiry", res)
	}
	for _, r := range res {
		if r.Kind != "interactive_prefetch" {
			t.Errorf("storage-resolve %+v of a prefetch; want interactive_prefetch", r)
		}
	}
	for _, r := range e.cdn.CDNRanges() {
		if r.Status != 206 {
			t.Errorf("CDN answered %+v; want only 206", r)
		}
	}
}

// Prefetch asks storage-resolve's prefetch variant; play the interactive.
func TestLoadPrefetchVariant(t *testing.T) {
	e := newTestEnv(t, spotifytest.APFakeConfig{})
	it := trackItem(t, "next", 0)
	e.publish(t, it)
	l := e.loader(t, nil)
	for _, prefetch := range []bool{true, false} {
		ld, err := l.Load(testCtx(t), it.URI, prefetch)
		if err != nil {
			t.Fatal(err)
		}
		_ = ld.Close()
	}
	var kinds []string
	for _, r := range e.sp.SpclientMediaResolves() {
		kinds = append(kinds, r.Kind)
	}
	if !slices.Equal(kinds, []string{"interactive_prefetch", "interactive"}) {
		t.Errorf("storage-resolve kinds %v", kinds)
	}
}

// Load's context bounds Load only: the stream reads on after it ends, and
// a context ended before the load fails it with the context's error.
func TestLoadContext(t *testing.T) {
	e := newTestEnv(t, spotifytest.APFakeConfig{})
	it := trackItem(t, "ctx", 0)
	pub := e.publish(t, it)
	l := e.loader(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	ld, err := l.Load(ctx, it.URI, false)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	samePlain(t, readPlain(t, ld, 1<<15), pub.Plain)
	_ = ld.Close()
	if _, err := l.Load(ctx, it.URI, false); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		t.Errorf("Load with an ended context: %v", err)
	}
}

// Transient server trouble (503 on metadata beyond spclient's retries) is
// not an unavailable item.
func TestLoadServerTrouble(t *testing.T) {
	e := newTestEnv(t, spotifytest.APFakeConfig{})
	it := trackItem(t, "trouble", 0)
	e.publish(t, it)
	e.f.Knob("spclient.test", "/extended-metadata/").SetStatus(503, -1)
	_, err := e.loader(t, nil).Load(testCtx(t), it.URI, false)
	if err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("error %v; want a retryable error", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	e := newTestEnv(t, spotifytest.APFakeConfig{})
	ok := Config{Spclient: e.sc, Keys: e.ap, Account: e.ap}
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Bitrate = 128 }, "audio.bitrate 128: allowed are 96, 160 and 320"},
		{func(c *Config) { c.Spclient = nil }, "Spclient"},
		{func(c *Config) { c.Keys = nil }, "Keys"},
		{func(c *Config) { c.Account = nil }, "Account"},
		{func(c *Config) { c.KeyTimeout = -1 }, "KeyTimeout"},
	} {
		cfg := ok
		c.edit(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New: %v; want an error naming %q", err, c.want)
		}
	}
	if _, err := New(ok); err != nil {
		t.Errorf("New with a good config: %v", err)
	}
}

// CDN answers that lie (a clean but short body, a range other than asked)
// or stall are caught and fetched again: the bytes stay identical.
func TestLoadCDNBadAnswers(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault func(cdn *spotifytest.CDNServer)
	}{
		{"short bodies", func(cdn *spotifytest.CDNServer) { cdn.CDNShortBody("cdn-a.test", 3) }},
		{"wrong Content-Range", func(cdn *spotifytest.CDNServer) { cdn.CDNWrongRange("cdn-a.test", 3) }},
		{"drop at the first byte", func(cdn *spotifytest.CDNServer) { cdn.CDNDropAfter("cdn-a.test", 0) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t, spotifytest.APFakeConfig{})
			it := trackItem(t, "liar", 0)
			pub := e.publish(t, it)
			ld, err := e.loader(t, nil).Load(testCtx(t), it.URI, false)
			if err != nil {
				t.Fatal(err)
			}
			defer ld.Close()
			c.fault(e.cdn)
			samePlain(t, readPlain(t, ld, 3000), pub.Plain)
			if st := streamOf(t, ld).Stats(); st.Failovers == 0 {
				t.Errorf("stats %+v: the fault went unnoticed", st)
			}
		})
	}
}

// A fault on the very first chunk (inside Load) fails over too.
func TestLoadFirstChunkFailover(t *testing.T) {
	e := newTestEnv(t, spotifytest.APFakeConfig{})
	it := trackItem(t, "first-chunk", 0)
	pub := e.publish(t, it)
	e.cdn.CDNUnavailable("cdn-a.test", -1)
	ld, err := e.loader(t, nil).Load(testCtx(t), it.URI, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Close()
	samePlain(t, readPlain(t, ld, 1<<14), pub.Plain)
	if n, _ := e.cdn.CDNStats("cdn-a.test"); n != 1 {
		t.Errorf("%d requests to the failed host, want 1", n)
	}
}

// Without an AUDIO_FILES answer the track's own file list serves (and
// there is no AUDIO_FILES loudness).
func TestLoadWithoutAudioFiles(t *testing.T) {
	e := newTestEnv(t, spotifytest.APFakeConfig{})
	it := trackItem(t, "no-af", 0)
	pub := e.publish(t, it)
	e.sp.SetSpclientMediaStatus(it.URI, emdpb.ExtensionKind_AUDIO_FILES, 404)
	ld, err := e.loader(t, nil).Load(testCtx(t), it.URI, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Close()
	if ld.Norm != nil || ld.FileID != pub.MediaFileID(metadatapb.AudioFile_OGG_VORBIS_160) {
		t.Errorf("norm %v, file %s; want none and the 160 kbps file", ld.Norm, ld.FileID)
	}
	samePlain(t, readPlain(t, ld, 1<<14), pub.Plain)
}

// Malformed extended-metadata answers (as a broken server might send) are
// unavailable items, never a panic.
func TestLoadMalformedMetadata(t *testing.T) {
	uri := spotifytest.MediaURI("track", "malformed")
	_, gid, _ := media.GID(uri)
	track, _ := proto.Marshal(&metadatapb.Track{Gid: gid, File: []*metadatapb.AudioFile{{FileId: make([]byte, 20), Format: metadatapb.AudioFile_OGG_VORBIS_160.Enum()}}})
	item := func(edit func(*emdpb.EntityExtensionData)) *emdpb.BatchedExtensionResponse {
		d := &emdpb.EntityExtensionData{EntityUri: uri, Header: &emdpb.EntityExtensionDataHeader{StatusCode: 200},
			ExtensionData: &anypb.Any{TypeUrl: spclient.TypeURLTrack, Value: track}}
		edit(d)
		return &emdpb.BatchedExtensionResponse{ExtendedMetadata: []*emdpb.EntityExtensionDataArray{
			{ExtensionKind: emdpb.ExtensionKind_TRACK_V4, ExtensionData: []*emdpb.EntityExtensionData{d}}}}
	}
	for _, c := range []struct {
		name string
		resp *emdpb.BatchedExtensionResponse
	}{
		{"empty answer", &emdpb.BatchedExtensionResponse{}},
		{"no header", item(func(d *emdpb.EntityExtensionData) { d.Header = nil })},
		{"status 500 in the header", item(func(d *emdpb.EntityExtensionData) { d.Header.StatusCode = 500 })},
		{"no payload", item(func(d *emdpb.EntityExtensionData) { d.ExtensionData = nil })},
		{"wrong type", item(func(d *emdpb.EntityExtensionData) { d.ExtensionData.TypeUrl = spclient.TypeURLEpisode })},
		{"garbage payload", item(func(d *emdpb.EntityExtensionData) { d.ExtensionData.Value = []byte{0xff, 0xff, 0xff} })},
		{"another uri", item(func(d *emdpb.EntityExtensionData) { d.EntityUri = spotifytest.MediaURI("track", "other") })},
		{"short gid", item(func(d *emdpb.EntityExtensionData) {
			d.ExtensionData.Value, _ = proto.Marshal(&metadatapb.Track{Gid: gid[:15]})
		})},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t, spotifytest.APFakeConfig{})
			body, err := proto.Marshal(c.resp)
			if err != nil {
				t.Fatal(err)
			}
			e.f.Handle("spclient.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write(body)
			}))
			_, err = e.loader(t, nil).Load(testCtx(t), uri, false)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("error %v; want unavailable", err)
			}
		})
	}
}

// The playing track and a prefetch load and stream side by side through
// one Loader.
func TestLoadConcurrent(t *testing.T) {
	e := newTestEnv(t, spotifytest.APFakeConfig{})
	a, b := trackItem(t, "side-a", 0), trackItem(t, "side-b", 1)
	pubs := []spotifytest.MediaPublished{e.publish(t, a), e.publish(t, b)}
	l := e.loader(t, nil)
	got := make([][]byte, 2)
	errs := make([]error, 2)
	done := make(chan int)
	for i, uri := range []string{a.URI, b.URI} {
		go func() {
			defer func() { done <- i }()
			ld, err := l.Load(testCtx(t), uri, i == 1)
			if err != nil {
				errs[i] = err
				return
			}
			defer ld.Close()
			plain, err := decrypt.NewReaderAt(ld.Track.Source, ld.Track.Key)
			if err != nil {
				errs[i] = err
				return
			}
			got[i] = make([]byte, ld.Track.Size)
			_, errs[i] = plain.ReadAt(got[i], 0)
		}()
	}
	<-done
	<-done
	for i := range got {
		if errs[i] != nil {
			t.Fatalf("load %d: %v", i, errs[i])
		}
		samePlain(t, got[i], pubs[i].Plain)
	}
}

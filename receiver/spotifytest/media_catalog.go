package spotifytest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"testing"
	"time"

	downloadpb "github.com/devgianlu/go-librespot/proto/spotify/download"
	emdpb "github.com/devgianlu/go-librespot/proto/spotify/extendedmetadata"
	audiofilespb "github.com/devgianlu/go-librespot/proto/spotify/extendedmetadata/audiofiles"
	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/audio/audiotest"
	"github.com/speakerbox/speakerbox/audio/decrypt"
	"github.com/speakerbox/speakerbox/audio/spotifyhdr"
	"github.com/speakerbox/speakerbox/receiver/media"
)

// MediaItem describes one track or episode for PublishMedia: its metadata,
// its audio (plain Ogg Vorbis, which PublishMedia wraps and encrypts as
// Spotify serves it) and where it may be played.
type MediaItem struct {
	// URI is "spotify:track:<base62>" or "spotify:episode:<base62>".
	URI string
	// Ogg is the plain Ogg Vorbis stream (MediaOgg makes one).
	Ogg []byte
	// Key is the AES key of the file; zero: one derived from the URI.
	Key [16]byte
	// HeaderNorm goes into the 167-byte Spotify header page.
	HeaderNorm spotifyhdr.Normalisation
	// Norm and AlbumNorm are AUDIO_FILES' normalisation parameters (tracks
	// only); nil leaves them out.
	Norm, AlbumNorm *media.Norm

	// Formats lists the files the metadata offers, each with its own file
	// id (derived from the URI and the format) and every one serving the
	// same bytes; none means OGG_VORBIS_160 alone. Non-Vorbis formats are
	// listed like the others, for a loader to ignore.
	Formats []metadatapb.AudioFile_Format

	Name       string
	Artists    []string // tracks
	Album      string   // tracks
	Show       string   // episodes: the show's name
	Publisher  string   // episodes
	Number     int32
	DurationMs int32
	Explicit   bool
	// Covers are image ids (any bytes; their hex fills the image URL
	// template), largest first: sizes XLARGE, LARGE, DEFAULT, SMALL.
	Covers [][]byte

	// CountriesAllowed / CountriesForbidden restrict streaming
	// (two-letter codes concatenated, "SEDK"); empty: no such restriction.
	CountriesAllowed, CountriesForbidden string
	// Alternatives are relinked versions of a track, published too and
	// listed in its TRACK_V4 "alternative".
	Alternatives []MediaItem

	// Expires gives the expiry put in the CDN URLs of the n-th
	// storage-resolve (from 1) for a file; nil: an hour from the answer.
	Expires func(call int) time.Time
	// Hosts, when set, overrides PublishMedia's hosts for the n-th
	// storage-resolve (e.g. new hosts after an expiry).
	Hosts func(call int) []string
}

// MediaPublished is what PublishMedia registered for one item.
type MediaPublished struct {
	GID [16]byte
	Key [16]byte
	// File is the file as the CDN serves it (header page + Ogg,
	// encrypted); Plain the same decrypted.
	File, Plain []byte
	// FileIDs maps each listed format to its file id (hex).
	FileIDs map[metadatapb.AudioFile_Format]string
	// Alternatives are the published alternatives, in order.
	Alternatives []MediaPublished
}

// MediaFileID returns the file id (hex) of format, "" when not listed.
func (p MediaPublished) MediaFileID(f metadatapb.AudioFile_Format) string { return p.FileIDs[f] }

// MediaOgg returns a plain Ogg Vorbis stream as Spotify's files carry:
// 44.1 kHz stereo at kbps (96, 160 or 320), about 6.4 s per repeat of
// music-like material; variant changes the material. It is made with sox
// and oggenc (cached); a missing tool skips the test, or fails it under CI.
func MediaOgg(tb testing.TB, kbps, variant, repeat int) []byte {
	tb.Helper()
	return audiotest.Read(tb, audiotest.Ogg(tb, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: kbps, Variant: variant, Repeat: repeat}))
}

// MediaCDNURL is a CDN URL for the file on host as Spotify's storage-resolve
// gives them: a path with the file id and an Akamai-style token in the
// query carrying the expiry ("__token__=exp=<unix>~hmac=…").
func MediaCDNURL(host, fileIDHex string, expires time.Time) string {
	mac := sha256.Sum256([]byte(host + fileIDHex + strconv.FormatInt(expires.Unix(), 10)))
	return CDNURL(host, mediaCDNPath(fileIDHex), "__token__=exp="+strconv.FormatInt(expires.Unix(), 10)+"~hmac="+hex.EncodeToString(mac[:8]))
}

func mediaCDNPath(fileIDHex string) string { return "/audio/" + fileIDHex }

// mediaDerive makes a stable id of n bytes from the parts.
func mediaDerive(n int, parts ...string) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum(nil)[:n]
}

// PublishMedia registers it everywhere a loader looks: TRACK_V4 (with
// AUDIO_FILES) or EPISODE_V4 metadata on sp, storage-resolve answering CDN
// URLs on hosts (with an expiry in the query), the encrypted file on cdn
// under each listed file id, and the key of every (gid, file id) in keys
// (an APFake's or APFakeDialer's APKeyTable). The caller mounts cdn on the
// hosts with Fake.Handle. A bad item fails tb.
func PublishMedia(tb testing.TB, sp *SpclientServer, cdn *CDNServer, keys *APKeyTable, hosts []string, it MediaItem) MediaPublished {
	tb.Helper()
	kind, gidb, err := media.GID(it.URI)
	if err != nil {
		tb.Fatalf("spotifytest: PublishMedia: %v", err)
	}
	if kind != "track" && kind != "episode" {
		tb.Fatalf("spotifytest: PublishMedia %s: want a track or an episode", it.URI)
	}
	if len(it.Ogg) == 0 {
		tb.Fatalf("spotifytest: PublishMedia %s: no Ogg", it.URI)
	}
	var pub MediaPublished
	copy(pub.GID[:], gidb)
	pub.Key = it.Key
	if pub.Key == ([16]byte{}) {
		copy(pub.Key[:], mediaDerive(16, "key", it.URI))
	}
	// The header page carries a real seek table, as Spotify's files do, so
	// seeks into parts not fetched yet cost what they cost against the
	// real CDN; a stream too damaged to have one gets the plain header.
	hdr := spotifyhdr.Build(it.HeaderNorm)
	if st, err := spotifyhdr.SeekTableFor(it.Ogg); err == nil {
		hdr = spotifyhdr.BuildWithSeek(it.HeaderNorm, st)
	}
	pub.Plain = append(hdr, it.Ogg...)
	pub.File, err = decrypt.Encrypt(pub.Plain, pub.Key[:])
	if err != nil {
		tb.Fatalf("spotifytest: PublishMedia %s: %v", it.URI, err)
	}
	formats := it.Formats
	if len(formats) == 0 {
		formats = []metadatapb.AudioFile_Format{metadatapb.AudioFile_OGG_VORBIS_160}
	}
	pub.FileIDs = map[metadatapb.AudioFile_Format]string{}
	var files []*metadatapb.AudioFile
	for _, f := range formats {
		id := mediaDerive(20, "file", it.URI, f.String())
		idHex := hex.EncodeToString(id)
		pub.FileIDs[f] = idHex
		files = append(files, &metadatapb.AudioFile{FileId: id, Format: f.Enum()})
		var fid [20]byte
		copy(fid[:], id)
		keys.AddKey(pub.GID, fid, pub.Key)
		cdn.CDNSetFile(mediaCDNPath(idHex), pub.File)
		sp.SetSpclientMediaStorage(idHex, mediaResolver(idHex, hosts, it.Hosts, it.Expires))
	}
	var restr []*metadatapb.Restriction
	if it.CountriesAllowed != "" {
		restr = append(restr, &metadatapb.Restriction{Type: metadatapb.Restriction_STREAMING.Enum(),
			CountryRestriction: &metadatapb.Restriction_CountriesAllowed{CountriesAllowed: it.CountriesAllowed}})
	}
	if it.CountriesForbidden != "" {
		restr = append(restr, &metadatapb.Restriction{Type: metadatapb.Restriction_STREAMING.Enum(),
			CountryRestriction: &metadatapb.Restriction_CountriesForbidden{CountriesForbidden: it.CountriesForbidden}})
	}
	covers := &metadatapb.ImageGroup{}
	sizes := []metadatapb.Image_Size{metadatapb.Image_XLARGE, metadatapb.Image_LARGE, metadatapb.Image_DEFAULT, metadatapb.Image_SMALL}
	for i, c := range it.Covers {
		covers.Image = append(covers.Image, &metadatapb.Image{FileId: c, Size: sizes[min(i, len(sizes)-1)].Enum()})
	}

	if kind == "episode" {
		ep := &metadatapb.Episode{
			Gid: gidb, Name: proto.String(it.Name), Duration: proto.Int32(it.DurationMs), Audio: files,
			Explicit: proto.Bool(it.Explicit), Restriction: restr, CoverImage: covers,
			Show: &metadatapb.Show{Name: proto.String(it.Show), Publisher: proto.String(it.Publisher)},
		}
		sp.SetSpclientMediaEpisode(it.URI, ep)
		return pub
	}
	tr := &metadatapb.Track{
		Gid: gidb, Name: proto.String(it.Name), Number: proto.Int32(it.Number), Duration: proto.Int32(it.DurationMs),
		Explicit: proto.Bool(it.Explicit), Restriction: restr, File: files,
		Album: &metadatapb.Album{Name: proto.String(it.Album), CoverGroup: covers},
	}
	for _, a := range it.Artists {
		tr.Artist = append(tr.Artist, &metadatapb.Artist{Name: proto.String(a)})
	}
	for _, alt := range it.Alternatives {
		ap := PublishMedia(tb, sp, cdn, keys, hosts, alt)
		pub.Alternatives = append(pub.Alternatives, ap)
		m, found := sp.spclientMediaTrack(alt.URI)
		if !found {
			tb.Fatalf("spotifytest: PublishMedia %s: alternative %s is not a track", it.URI, alt.URI)
		}
		tr.Alternative = append(tr.Alternative, m)
	}
	sp.SetSpclientMediaTrack(it.URI, tr)
	af := &audiofilespb.AudioFilesExtensionResponse{}
	for _, f := range files {
		af.Files = append(af.Files, &audiofilespb.ExtendedAudioFile{File: f})
	}
	if it.Norm != nil {
		af.DefaultFileNormalizationParams = &audiofilespb.NormalizationParams{LoudnessDb: float32(it.Norm.LoudnessDB), TruePeakDb: float32(it.Norm.TruePeakDB)}
	}
	if it.AlbumNorm != nil {
		af.DefaultAlbumNormalizationParams = &audiofilespb.NormalizationParams{LoudnessDb: float32(it.AlbumNorm.LoudnessDB), TruePeakDb: float32(it.AlbumNorm.TruePeakDB)}
	}
	sp.SetSpclientMediaAudioFiles(it.URI, af)
	return pub
}

// spclientMediaTrack returns a copy of the TRACK_V4 registered for uri.
func (s *SpclientServer) spclientMediaTrack(uri string) (*metadatapb.Track, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.media.spclientMediaInit()
	m, ok := s.media.items[spclientMediaKey{uri, emdpb.ExtensionKind_TRACK_V4}]
	if !ok {
		return nil, false
	}
	t, ok := m.(*metadatapb.Track)
	if !ok {
		return nil, false
	}
	return proto.Clone(t).(*metadatapb.Track), true
}

// mediaResolver answers the n-th storage-resolve for a file with URLs on
// the hosts.
func mediaResolver(fileIDHex string, hosts []string, override func(int) []string, expires func(int) time.Time) func(int) *downloadpb.StorageResolveResponse {
	return func(call int) *downloadpb.StorageResolveResponse {
		hs := hosts
		if override != nil {
			hs = override(call)
		}
		exp := time.Now().Add(time.Hour)
		if expires != nil {
			exp = expires(call)
		}
		var urls []string
		for _, h := range hs {
			urls = append(urls, MediaCDNURL(h, fileIDHex, exp))
		}
		if len(urls) == 0 {
			return &downloadpb.StorageResolveResponse{Result: downloadpb.StorageResolveResponse_RESTRICTED}
		}
		return SpclientMediaCDN(urls...)
	}
}

// MediaURI is a track or episode URI with a gid derived from name, for
// tests that need many distinct valid ids.
func MediaURI(kind, name string) string {
	u, err := media.URI(kind, mediaDerive(16, "gid", kind, name))
	if err != nil {
		panic(fmt.Sprintf("spotifytest: MediaURI: %v", err)) // 16 bytes always fit
	}
	return u
}

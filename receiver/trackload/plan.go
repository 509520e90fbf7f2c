package trackload

import (
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	audiofilespb "github.com/devgianlu/go-librespot/proto/spotify/extendedmetadata/audiofiles"
	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"

	"github.com/speakerbox/speakerbox/receiver/media"
)

// plan is what the metadata decided: what to tell, and which file of
// which item to fetch. Building it is pure (no I/O), so that any metadata
// the network sends can be fuzzed through it.
type plan struct {
	meta      Meta
	playedURI string
	gid       [16]byte
	fileID    [20]byte
	format    metadatapb.AudioFile_Format
	bitrate   int
	norm      *media.Norm
	albumNorm *media.Norm
}

// imageURL turns a hex image id into a URL ("" when it cannot).
type imageURL func(idHex string) string

// unavailable builds the *UnavailableError of uri.
func unavailable(uri, reason string, err error) *UnavailableError {
	return &UnavailableError{URI: uri, Reason: reason, Err: err}
}

// relink picks the track to play in country: t itself, or one of its
// alternatives. The error is an *UnavailableError.
func relink(uri string, t *metadatapb.Track, country string) (*metadatapb.Track, error) {
	if len(t.GetGid()) != 16 {
		return nil, unavailable(uri, fmt.Sprintf("track gid of %d bytes, want 16", len(t.GetGid())), nil)
	}
	played, err := media.Relink(t, country)
	if err != nil {
		return nil, unavailable(uri, "restricted in "+country+" and no alternative may play there", err)
	}
	return played, nil
}

// trackPlan decides for a track t (as asked for as uri), played as played
// (t or the alternative relink chose), whose AUDIO_FILES answer is af (nil
// when there was none).
func trackPlan(uri string, t, played *metadatapb.Track, af *audiofilespb.AudioFilesExtensionResponse, bitrate int, img imageURL) (plan, error) {
	if len(played.GetGid()) != 16 {
		return plan{}, unavailable(uri, fmt.Sprintf("track gid of %d bytes, want 16", len(played.GetGid())), nil)
	}
	var p plan
	copy(p.gid[:], played.GetGid())
	p.playedURI = uri
	if played != t {
		u, err := media.URI("track", played.GetGid())
		if err != nil {
			return plan{}, unavailable(uri, "alternative without a valid gid", err)
		}
		p.playedURI = u
	}
	// AUDIO_FILES is what Spotify's clients use; the track's own list
	// covers an AUDIO_FILES answer that is missing or lacks Vorbis files.
	// ChooseFile takes the best bitrate from either.
	files := append(media.AudioFiles(af), played.GetFile()...)
	if err := p.choose(uri, files, bitrate); err != nil {
		return plan{}, err
	}
	if n, ok := media.NormFromAudioFiles(af, false); ok {
		p.norm = &n
	}
	if n, ok := media.NormFromAudioFiles(af, true); ok {
		p.albumNorm = &n
	}
	p.meta = Meta{
		Kind:       KindTrack,
		URI:        uri,
		Name:       t.GetName(),
		Album:      t.GetAlbum().GetName(),
		Number:     int(t.GetNumber()),
		DurationMs: int64(t.GetDuration()),
		Explicit:   t.GetExplicit(),
	}
	for _, a := range t.GetArtist() {
		if n := a.GetName(); n != "" {
			p.meta.Artists = append(p.meta.Artists, n)
		}
	}
	images := t.GetAlbum().GetCoverGroup().GetImage()
	if len(images) == 0 {
		images = t.GetAlbum().GetCover()
	}
	p.meta.Covers = coverURLs(images, img)
	return p, nil
}

// episodePlan decides for an episode. Episodes have no alternatives and
// no AUDIO_FILES: their files are in the episode itself, and they are not
// loudness-normalised by AUDIO_FILES (go-librespot uses factor 1).
func episodePlan(uri string, e *metadatapb.Episode, country string, bitrate int, img imageURL) (plan, error) {
	if len(e.GetGid()) != 16 {
		return plan{}, unavailable(uri, fmt.Sprintf("episode gid of %d bytes, want 16", len(e.GetGid())), nil)
	}
	if media.Restricted(e.GetRestriction(), country) {
		return plan{}, unavailable(uri, "restricted in "+country, media.ErrRestricted)
	}
	var p plan
	copy(p.gid[:], e.GetGid())
	p.playedURI = uri
	if err := p.choose(uri, e.GetAudio(), bitrate); err != nil {
		return plan{}, err
	}
	p.meta = Meta{
		Kind:       KindEpisode,
		URI:        uri,
		Name:       e.GetName(),
		Album:      e.GetShow().GetName(),
		DurationMs: int64(e.GetDuration()),
		Explicit:   e.GetExplicit(),
	}
	if pub := e.GetShow().GetPublisher(); pub != "" {
		p.meta.Artists = []string{pub}
	}
	images := e.GetCoverImage().GetImage()
	if len(images) == 0 {
		images = e.GetShow().GetCoverImage().GetImage()
	}
	p.meta.Covers = coverURLs(images, img)
	return p, nil
}

// choose picks the Ogg Vorbis file at bitrate (or the fallback).
func (p *plan) choose(uri string, files []*metadatapb.AudioFile, bitrate int) error {
	f, err := media.ChooseFile(files, bitrate)
	if err != nil {
		if errors.Is(err, media.ErrNoFile) {
			return unavailable(uri, "no Ogg Vorbis file", err)
		}
		return err // a bad bitrate: New rejects it, so not the item's fault
	}
	copy(p.fileID[:], f.GetFileId())
	p.format = f.GetFormat()
	p.bitrate = media.Bitrate(p.format)
	return nil
}

// sizeRank orders image sizes, largest first.
func sizeRank(s metadatapb.Image_Size) int {
	switch s {
	case metadatapb.Image_XLARGE:
		return 3
	case metadatapb.Image_LARGE:
		return 2
	case metadatapb.Image_DEFAULT:
		return 1
	}
	return 0 // SMALL and unknown sizes
}

// coverURLs lists the images as URLs, largest first, without duplicates
// or images without an id.
func coverURLs(images []*metadatapb.Image, img imageURL) []string {
	if img == nil {
		return nil
	}
	type ranked struct {
		rank int
		url  string
	}
	var rs []ranked
	seen := map[string]bool{}
	for _, im := range images {
		if len(im.GetFileId()) == 0 {
			continue
		}
		u := img(hex.EncodeToString(im.GetFileId()))
		if u == "" || seen[u] {
			continue
		}
		seen[u] = true
		rs = append(rs, ranked{sizeRank(im.GetSize()), u})
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].rank > rs[j].rank })
	var out []string
	for _, r := range rs {
		out = append(out, r.url)
	}
	return out
}

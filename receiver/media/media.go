// Package media holds the pure decisions between a track's metadata and
// its audio: is it playable in the account's country (else which
// alternative is), which of its files to fetch, and with what loudness
// normalisation. Nothing here does I/O.
package media

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"

	audiofilespb "github.com/devgianlu/go-librespot/proto/spotify/extendedmetadata/audiofiles"
	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"
)

// ErrRestricted: neither the track nor any alternative may be played in
// the country.
var ErrRestricted = errors.New("media: restricted in this country")

// ErrNoFile: the item has no Ogg Vorbis file we can play.
var ErrNoFile = errors.New("media: no Ogg Vorbis file")

// Restricted reports whether restrictions forbid streaming in country (a
// two-letter code such as "SE"). A restriction with an allowed list
// restricts every country not on it (an empty list: every country); one
// with a forbidden list restricts the countries on it. Lists are two-letter
// codes concatenated ("SEDKNO"), compared in pairs, not as substrings.
// Restrictions of another type than streaming are ignored. A country code
// that is not two letters fails every allowed list.
func Restricted(restrictions []*metadatapb.Restriction, country string) bool {
	country = strings.ToUpper(country)
	for _, r := range restrictions {
		if r == nil || r.GetType() != metadatapb.Restriction_STREAMING {
			continue
		}
		switch c := r.GetCountryRestriction().(type) {
		case *metadatapb.Restriction_CountriesAllowed:
			if !listHas(c.CountriesAllowed, country) {
				return true
			}
		case *metadatapb.Restriction_CountriesForbidden:
			if listHas(c.CountriesForbidden, country) {
				return true
			}
		}
	}
	return false
}

func listHas(list, country string) bool {
	if len(country) != 2 {
		return false
	}
	list = strings.ToUpper(list)
	for i := 0; i+2 <= len(list); i += 2 {
		if list[i:i+2] == country {
			return true
		}
	}
	return false
}

// Relink returns t when it may be played in country, else the first of its
// alternatives that may (relinked: a different gid, whose files must be
// asked for under that gid). Only tracks with a 16-byte gid qualify. The
// result's gid is what audio keys and AUDIO_FILES are asked for; callers
// keep matching prefetches by the id they asked for, not the relinked one.
func Relink(t *metadatapb.Track, country string) (*metadatapb.Track, error) {
	if t == nil {
		return nil, errors.New("media: no track")
	}
	if len(t.GetGid()) == 16 && !Restricted(t.GetRestriction(), country) {
		return t, nil
	}
	for _, alt := range t.GetAlternative() {
		if alt != nil && len(alt.GetGid()) == 16 && !Restricted(alt.GetRestriction(), country) {
			return alt, nil
		}
	}
	return nil, fmt.Errorf("track %x in %q: %w", t.GetGid(), country, ErrRestricted)
}

// Bitrates we can play (kbit/s), each an Ogg Vorbis format.
var vorbisByBitrate = map[int]metadatapb.AudioFile_Format{
	96:  metadatapb.AudioFile_OGG_VORBIS_96,
	160: metadatapb.AudioFile_OGG_VORBIS_160,
	320: metadatapb.AudioFile_OGG_VORBIS_320,
}

// FileOrder is the order in which ChooseFile tries the Vorbis bitrates for
// a configured bitrate: the configured one, then lower ones from the
// highest down (320 -> 160 -> 96; 320 needs Premium), then higher ones
// from the lowest up, so that a file exists whenever any Vorbis file does.
func FileOrder(bitrate int) ([]int, error) {
	switch bitrate {
	case 320:
		return []int{320, 160, 96}, nil
	case 160:
		return []int{160, 96, 320}, nil
	case 96:
		return []int{96, 160, 320}, nil
	}
	return nil, fmt.Errorf("media: bitrate %d: allowed are 96, 160 and 320", bitrate)
}

// ChooseFile picks the file to play from files (a track's or AUDIO_FILES'
// files, an episode's audio): only Ogg Vorbis 96/160/320 with a 20-byte
// file id count (MP3, AAC and FLAC entries are ignored), tried in
// FileOrder(bitrate).
func ChooseFile(files []*metadatapb.AudioFile, bitrate int) (*metadatapb.AudioFile, error) {
	order, err := FileOrder(bitrate)
	if err != nil {
		return nil, err
	}
	for _, kbps := range order {
		want := vorbisByBitrate[kbps]
		for _, f := range files {
			if f != nil && f.Format != nil && f.GetFormat() == want && len(f.GetFileId()) == 20 {
				return f, nil
			}
		}
	}
	return nil, fmt.Errorf("%d files: %w", len(files), ErrNoFile)
}

// Bitrate is the nominal bitrate (kbit/s) of a Vorbis format, 0 for others.
func Bitrate(f metadatapb.AudioFile_Format) int {
	for k, v := range vorbisByBitrate {
		if v == f {
			return k
		}
	}
	return 0
}

// AudioFiles lists the files of an AUDIO_FILES answer (nil entries
// skipped).
func AudioFiles(af *audiofilespb.AudioFilesExtensionResponse) []*metadatapb.AudioFile {
	var out []*metadatapb.AudioFile
	for _, f := range af.GetFiles() {
		if f.GetFile() != nil {
			out = append(out, f.GetFile())
		}
	}
	return out
}

// Norm is a loudness measurement: integrated loudness (LUFS, dB) and true
// peak (dBTP).
type Norm struct {
	LoudnessDB, TruePeakDB float64
}

// NormFromAudioFiles returns the track (album false) or album
// normalisation parameters of an AUDIO_FILES answer; ok is false when the
// answer has none (the caller then uses the file's header).
func NormFromAudioFiles(af *audiofilespb.AudioFilesExtensionResponse, album bool) (n Norm, ok bool) {
	p := af.GetDefaultFileNormalizationParams()
	if album {
		p = af.GetDefaultAlbumNormalizationParams()
	}
	if p == nil {
		return Norm{}, false
	}
	l, tp := float64(p.GetLoudnessDb()), float64(p.GetTruePeakDb())
	if math.IsNaN(l) || math.IsInf(l, 0) || math.IsNaN(tp) || math.IsInf(tp, 0) {
		return Norm{}, false
	}
	return Norm{LoudnessDB: l, TruePeakDB: tp}, true
}

// TargetLUFS is the loudness Spotify normalises to by default.
const TargetLUFS = -14

// Factor is the linear gain that brings the track to TargetLUFS plus
// pregainDB, reduced so that the true peak stays at or below full scale.
func (n Norm) Factor(pregainDB float64) float64 {
	f := math.Pow(10, (TargetLUFS-n.LoudnessDB+pregainDB)/20)
	if peak := math.Pow(10, n.TruePeakDB/20); f*peak > 1 {
		f = 1 / peak
	}
	return f
}

const base62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// URI is "spotify:<kind>:<22 base62 characters>" for a 16-byte gid.
func URI(kind string, gid []byte) (string, error) {
	if len(gid) != 16 {
		return "", fmt.Errorf("media: gid of %d bytes, want 16", len(gid))
	}
	n := new(big.Int).SetBytes(gid)
	var b [22]byte
	base, rem := big.NewInt(62), new(big.Int)
	for i := len(b) - 1; i >= 0; i-- {
		n.QuoRem(n, base, rem)
		b[i] = base62[rem.Int64()]
	}
	return "spotify:" + kind + ":" + string(b[:]), nil
}

// GID reads the 16-byte gid and the kind from a "spotify:<kind>:<base62>"
// uri.
func GID(uri string) (kind string, gid []byte, err error) {
	parts := strings.Split(uri, ":")
	if len(parts) != 3 || parts[0] != "spotify" || parts[1] == "" || len(parts[2]) != 22 {
		return "", nil, fmt.Errorf("media: uri %q: want spotify:<kind>:<22 base62 characters>", uri)
	}
	n := new(big.Int)
	base := big.NewInt(62)
	for i := 0; i < len(parts[2]); i++ {
		d := strings.IndexByte(base62, parts[2][i])
		if d < 0 {
			return "", nil, fmt.Errorf("media: uri %q: %q is not base62", uri, parts[2][i])
		}
		n.Mul(n, base).Add(n, big.NewInt(int64(d)))
	}
	if n.BitLen() > 128 {
		return "", nil, fmt.Errorf("media: uri %q: id larger than 128 bits", uri)
	}
	gid = make([]byte, 16)
	n.FillBytes(gid)
	return parts[1], gid, nil
}

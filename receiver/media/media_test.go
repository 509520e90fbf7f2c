package media

import (
	"bytes"
	"errors"
	"math"
	"testing"

	audiofilespb "github.com/devgianlu/go-librespot/proto/spotify/extendedmetadata/audiofiles"
	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"
)

func allowed(list string) *metadatapb.Restriction {
	return &metadatapb.Restriction{CountryRestriction: &metadatapb.Restriction_CountriesAllowed{CountriesAllowed: list}}
}

func forbidden(list string) *metadatapb.Restriction {
	return &metadatapb.Restriction{CountryRestriction: &metadatapb.Restriction_CountriesForbidden{CountriesForbidden: list}}
}

func TestRestricted(t *testing.T) {
	other := metadatapb.Restriction_Type(1)
	for _, tc := range []struct {
		name    string
		rs      []*metadatapb.Restriction
		country string
		want    bool
	}{
		{"none", nil, "SE", false},
		{"nil entry", []*metadatapb.Restriction{nil}, "SE", false},
		{"allowed, on list", []*metadatapb.Restriction{allowed("DKSENO")}, "SE", false},
		{"allowed, lower case country", []*metadatapb.Restriction{allowed("DKSENO")}, "se", false},
		{"allowed, not on list", []*metadatapb.Restriction{allowed("DKNO")}, "SE", true},
		{"allowed, only as a substring across pairs", []*metadatapb.Restriction{allowed("ESEX")}, "SE", true},
		{"allowed, empty list", []*metadatapb.Restriction{allowed("")}, "SE", true},
		{"forbidden, on list", []*metadatapb.Restriction{forbidden("USSE")}, "SE", true},
		{"forbidden, not on list", []*metadatapb.Restriction{forbidden("USCA")}, "SE", false},
		{"forbidden, substring across pairs", []*metadatapb.Restriction{forbidden("ESEX")}, "SE", false},
		{"no country list", []*metadatapb.Restriction{{}}, "SE", false},
		{"other type ignored", []*metadatapb.Restriction{{Type: &other, CountryRestriction: &metadatapb.Restriction_CountriesAllowed{CountriesAllowed: "US"}}}, "SE", false},
		{"second restriction forbids", []*metadatapb.Restriction{allowed("SE"), forbidden("SE")}, "SE", true},
		{"unknown country, allowed list", []*metadatapb.Restriction{allowed("SE")}, "", true},
		{"unknown country, forbidden list", []*metadatapb.Restriction{forbidden("SE")}, "", false},
	} {
		if got := Restricted(tc.rs, tc.country); got != tc.want {
			t.Errorf("%s: Restricted = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func gid(b byte) []byte { return bytes.Repeat([]byte{b}, 16) }

func TestRelink(t *testing.T) {
	alt1 := &metadatapb.Track{Gid: gid(2), Restriction: []*metadatapb.Restriction{forbidden("SE")}}
	alt2 := &metadatapb.Track{Gid: gid(3)}
	altShort := &metadatapb.Track{Gid: gid(4)[:15]}
	for _, tc := range []struct {
		name string
		t    *metadatapb.Track
		want []byte // nil: ErrRestricted
	}{
		{"playable", &metadatapb.Track{Gid: gid(1), Alternative: []*metadatapb.Track{alt2}}, gid(1)},
		{"restricted, relinked past a restricted and a broken alternative",
			&metadatapb.Track{Gid: gid(1), Restriction: []*metadatapb.Restriction{allowed("US")}, Alternative: []*metadatapb.Track{nil, alt1, altShort, alt2}}, gid(3)},
		{"restricted, no alternative", &metadatapb.Track{Gid: gid(1), Restriction: []*metadatapb.Restriction{forbidden("SE")}}, nil},
		{"restricted, only restricted alternatives", &metadatapb.Track{Gid: gid(1), Restriction: []*metadatapb.Restriction{forbidden("SE")}, Alternative: []*metadatapb.Track{alt1}}, nil},
		{"own gid broken, alternative fine", &metadatapb.Track{Gid: gid(1)[:3], Alternative: []*metadatapb.Track{alt2}}, gid(3)},
	} {
		got, err := Relink(tc.t, "SE")
		if tc.want == nil {
			if !errors.Is(err, ErrRestricted) {
				t.Errorf("%s: %v, want ErrRestricted", tc.name, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got.GetGid(), tc.want) {
			t.Errorf("%s: gid %x %v, want %x", tc.name, got.GetGid(), err, tc.want)
		}
	}
	if _, err := Relink(nil, "SE"); err == nil {
		t.Error("nil track: no error")
	}
}

func file(f metadatapb.AudioFile_Format, idByte byte) *metadatapb.AudioFile {
	return &metadatapb.AudioFile{Format: f.Enum(), FileId: bytes.Repeat([]byte{idByte}, 20)}
}

func TestChooseFile(t *testing.T) {
	v96, v160, v320 := file(metadatapb.AudioFile_OGG_VORBIS_96, 1), file(metadatapb.AudioFile_OGG_VORBIS_160, 2), file(metadatapb.AudioFile_OGG_VORBIS_320, 3)
	mp3 := file(metadatapb.AudioFile_MP3_320, 4)
	aac := file(metadatapb.AudioFile_AAC_48, 5)
	flac := file(metadatapb.AudioFile_FLAC_FLAC, 6)
	shortID := &metadatapb.AudioFile{Format: metadatapb.AudioFile_OGG_VORBIS_320.Enum(), FileId: []byte{1}}
	noFormat := &metadatapb.AudioFile{FileId: bytes.Repeat([]byte{7}, 20)} // format unset reads as 96: must not count
	all := []*metadatapb.AudioFile{mp3, v96, aac, v160, v320, flac}
	for _, tc := range []struct {
		name    string
		files   []*metadatapb.AudioFile
		bitrate int
		want    *metadatapb.AudioFile
	}{
		{"320 of all", all, 320, v320},
		{"160 of all", all, 160, v160},
		{"96 of all", all, 96, v96},
		{"320 falls back to 160", []*metadatapb.AudioFile{mp3, v96, v160}, 320, v160},
		{"320 falls back to 96", []*metadatapb.AudioFile{v96, flac}, 320, v96},
		{"160 falls back to 96", []*metadatapb.AudioFile{v96, v320}, 160, v96},
		{"160 takes 320 when nothing lower", []*metadatapb.AudioFile{v320}, 160, v320},
		{"96 goes up to 160 first", []*metadatapb.AudioFile{v320, v160}, 96, v160},
		{"only non-Vorbis", []*metadatapb.AudioFile{mp3, aac, flac}, 160, nil},
		{"broken entries skipped", []*metadatapb.AudioFile{nil, shortID, noFormat, v160}, 320, v160},
		{"none", nil, 160, nil},
	} {
		got, err := ChooseFile(tc.files, tc.bitrate)
		if tc.want == nil {
			if !errors.Is(err, ErrNoFile) {
				t.Errorf("%s: %v %v, want ErrNoFile", tc.name, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := ChooseFile(all, 256); err == nil {
		t.Error("bitrate 256 accepted")
	}
	if Bitrate(metadatapb.AudioFile_OGG_VORBIS_160) != 160 || Bitrate(metadatapb.AudioFile_MP3_160) != 0 {
		t.Error("Bitrate")
	}
}

func TestNormalisation(t *testing.T) {
	af := &audiofilespb.AudioFilesExtensionResponse{
		Files:                           []*audiofilespb.ExtendedAudioFile{{File: file(metadatapb.AudioFile_OGG_VORBIS_160, 1)}, nil, {}},
		DefaultFileNormalizationParams:  &audiofilespb.NormalizationParams{LoudnessDb: -8, TruePeakDb: -3},
		DefaultAlbumNormalizationParams: &audiofilespb.NormalizationParams{LoudnessDb: -20, TruePeakDb: -1},
	}
	if n := len(AudioFiles(af)); n != 1 {
		t.Fatalf("%d files", n)
	}
	for _, tc := range []struct {
		name    string
		album   bool
		pregain float64
		want    float64
	}{
		// -14 - (-8) = -6 dB; peak -3 dBTP leaves room.
		{"track", false, 0, math.Pow(10, -6.0/20)},
		{"track with pregain", false, 3, math.Pow(10, -3.0/20)},
		// -14 - (-20) = +6 dB would push a -1 dBTP peak to +5: capped at 0 dBTP.
		{"album, peak limited", true, 0, math.Pow(10, 1.0/20)},
	} {
		n, ok := NormFromAudioFiles(af, tc.album)
		if !ok {
			t.Fatalf("%s: no params", tc.name)
		}
		if got := n.Factor(tc.pregain); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: factor %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, ok := NormFromAudioFiles(&audiofilespb.AudioFilesExtensionResponse{}, false); ok {
		t.Error("params from an answer without them")
	}
	if _, ok := NormFromAudioFiles(nil, true); ok {
		t.Error("params from nil")
	}
	nan := &audiofilespb.AudioFilesExtensionResponse{DefaultFileNormalizationParams: &audiofilespb.NormalizationParams{LoudnessDb: float32(math.NaN())}}
	if _, ok := NormFromAudioFiles(nan, false); ok {
		t.Error("NaN loudness accepted")
	}
}

func TestURIRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		uri string
		gid []byte
	}{
		{"spotify:track:0000000000000000000000", make([]byte, 16)},
		{"spotify:track:7N42dgm5tFLK9N8MT7fHC7", bytes.Repeat([]byte{0xff}, 16)},
	} {
		kind, g, err := GID(tc.uri)
		if err != nil || kind != "track" || !bytes.Equal(g, tc.gid) {
			t.Errorf("GID(%q) = %s %x %v", tc.uri, kind, g, err)
		}
		u, err := URI("track", tc.gid)
		if err != nil || u != tc.uri {
			t.Errorf("URI(%x) = %q %v", tc.gid, u, err)
		}
	}
	g := []byte{0x1a, 0x2b, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	u, _ := URI("episode", g)
	if kind, back, err := GID(u); err != nil || kind != "episode" || !bytes.Equal(back, g) {
		t.Errorf("round trip %q: %s %x %v", u, kind, back, err)
	}
	for _, bad := range []string{"", "spotify:track:", "spotify:track:000000000000000000000!", "spotify:track:zzzzzzzzzzzzzzzzzzzzzz", "track:0000000000000000000000", "spotify::0000000000000000000000"} {
		if _, _, err := GID(bad); err == nil {
			t.Errorf("GID(%q) accepted", bad)
		}
	}
	if _, err := URI("track", []byte{1}); err == nil {
		t.Error("URI of a 1-byte gid")
	}
}

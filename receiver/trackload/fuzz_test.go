package trackload

import (
	"errors"
	"testing"

	audiofilespb "github.com/devgianlu/go-librespot/proto/spotify/extendedmetadata/audiofiles"
	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/receiver/media"
)

func fuzzImage(id string) string { return "https://i.test/" + id }

func fuzzBitrate(b uint8) int { return []int{96, 160, 320}[int(b)%3] }

// seedTrack is a well-formed track with an alternative, files and covers.
func seedTrack() (track, af []byte) {
	gid := make([]byte, 16)
	gid[15] = 1
	alt := make([]byte, 16)
	alt[15] = 2
	f := func(b byte, format metadatapb.AudioFile_Format) *metadatapb.AudioFile {
		id := make([]byte, 20)
		id[0] = b
		return &metadatapb.AudioFile{FileId: id, Format: format.Enum()}
	}
	t := &metadatapb.Track{
		Gid: gid, Name: proto.String("n"), Number: proto.Int32(1), Duration: proto.Int32(1000),
		Artist: []*metadatapb.Artist{{Name: proto.String("a")}, {}},
		Album:  &metadatapb.Album{Name: proto.String("al"), CoverGroup: &metadatapb.ImageGroup{Image: []*metadatapb.Image{{FileId: []byte{1}, Size: metadatapb.Image_SMALL.Enum()}, {FileId: []byte{2}, Size: metadatapb.Image_XLARGE.Enum()}}}},
		Restriction: []*metadatapb.Restriction{{Type: metadatapb.Restriction_STREAMING.Enum(),
			CountryRestriction: &metadatapb.Restriction_CountriesForbidden{CountriesForbidden: "SE"}}},
		File:        []*metadatapb.AudioFile{f(1, metadatapb.AudioFile_OGG_VORBIS_160), f(2, metadatapb.AudioFile_MP3_320)},
		Alternative: []*metadatapb.Track{{Gid: alt, File: []*metadatapb.AudioFile{f(3, metadatapb.AudioFile_OGG_VORBIS_96)}}},
	}
	a := &audiofilespb.AudioFilesExtensionResponse{
		Files:                          []*audiofilespb.ExtendedAudioFile{{File: f(4, metadatapb.AudioFile_OGG_VORBIS_320)}, {}},
		DefaultFileNormalizationParams: &audiofilespb.NormalizationParams{LoudnessDb: -8, TruePeakDb: -1},
	}
	tb, _ := proto.Marshal(t)
	ab, _ := proto.Marshal(a)
	return tb, ab
}

// Whatever TRACK_V4 and AUDIO_FILES payloads the network sends, planning
// a track never panics, and a plan it makes is playable: a Vorbis file at
// a known bitrate, the asked URI in Meta.
func FuzzTrackPlan(f *testing.F) {
	tb, ab := seedTrack()
	f.Add(tb, ab, "SE", uint8(2))
	f.Add(tb, ab, "DK", uint8(1))
	f.Add(tb, []byte{}, "se", uint8(0))
	f.Add([]byte{0x0a, 0x10}, []byte{0x12, 0x00}, "", uint8(0))
	f.Fuzz(func(t *testing.T, trackBytes, afBytes []byte, country string, br uint8) {
		var tr metadatapb.Track
		if proto.Unmarshal(trackBytes, &tr) != nil {
			return
		}
		var af *audiofilespb.AudioFilesExtensionResponse
		var a audiofilespb.AudioFilesExtensionResponse
		if len(afBytes) > 0 && proto.Unmarshal(afBytes, &a) == nil {
			af = &a
		}
		const uri = "spotify:track:0000000000000000000001"
		played, err := relink(uri, &tr, country)
		if err != nil {
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("relink: %v is not unavailable", err)
			}
			return
		}
		p, err := trackPlan(uri, &tr, played, af, fuzzBitrate(br), fuzzImage)
		if err != nil {
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("plan: %v is not unavailable", err)
			}
			return
		}
		checkPlan(t, p, uri)
		if played != &tr && p.playedURI == uri {
			t.Fatal("relinked, but PlayedURI is the asked URI")
		}
	})
}

// The same for EPISODE_V4.
func FuzzEpisodePlan(f *testing.F) {
	gid := make([]byte, 16)
	e := &metadatapb.Episode{Gid: gid, Name: proto.String("e"), Show: &metadatapb.Show{Name: proto.String("s"), Publisher: proto.String("p")},
		Audio: []*metadatapb.AudioFile{{FileId: make([]byte, 20), Format: metadatapb.AudioFile_OGG_VORBIS_96.Enum()}}}
	eb, _ := proto.Marshal(e)
	f.Add(eb, "SE", uint8(1))
	f.Add([]byte{0x0a, 0x00}, "", uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, country string, br uint8) {
		var ep metadatapb.Episode
		if proto.Unmarshal(b, &ep) != nil {
			return
		}
		const uri = "spotify:episode:0000000000000000000001"
		p, err := episodePlan(uri, &ep, country, fuzzBitrate(br), fuzzImage)
		if err != nil {
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("plan: %v is not unavailable", err)
			}
			return
		}
		checkPlan(t, p, uri)
	})
}

func checkPlan(t *testing.T, p plan, uri string) {
	t.Helper()
	if p.meta.URI != uri || p.playedURI == "" {
		t.Fatalf("meta URI %q, played %q", p.meta.URI, p.playedURI)
	}
	if media.Bitrate(p.format) == 0 || p.bitrate != media.Bitrate(p.format) {
		t.Fatalf("format %v at %d kbps is not Vorbis", p.format, p.bitrate)
	}
}

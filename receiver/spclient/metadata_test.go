package spclient

import (
	"context"
	"errors"
	"net/http"
	"testing"

	emdpb "github.com/devgianlu/go-librespot/proto/spotify/extendedmetadata"
	audiofilespb "github.com/devgianlu/go-librespot/proto/spotify/extendedmetadata/audiofiles"
	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

const (
	testTrackURI   = "spotify:track:6rqhFgbbKwnb9MLmUQDhG6"
	testEpisodeURI = "spotify:episode:4rOoJ6Egrf8K2IrywzwOMk"
)

var testGID = []byte{0xd1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}

func testTrack() *metadatapb.Track {
	name, dur := "Song", int32(180000)
	return &metadatapb.Track{Gid: testGID, Name: &name, Duration: &dur}
}

func TestTrackEpisodeAndAudioFilesOverTheWire(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.SetSpclientMediaTrack(testTrackURI, testTrack())
	name := "Episode"
	e.srv.SetSpclientMediaEpisode(testEpisodeURI, &metadatapb.Episode{Gid: testGID, Name: &name})
	f := metadatapb.AudioFile_OGG_VORBIS_320
	e.srv.SetSpclientMediaAudioFiles(testTrackURI, &audiofilespb.AudioFilesExtensionResponse{
		Files:                          []*audiofilespb.ExtendedAudioFile{{File: &metadatapb.AudioFile{FileId: testFileID, Format: &f}}},
		DefaultFileNormalizationParams: &audiofilespb.NormalizationParams{LoudnessDb: -9, TruePeakDb: 0.5},
	})
	ctx := context.Background()
	tr, err := e.c.TrackMetadata(ctx, testTrackURI)
	if err != nil || tr.GetName() != "Song" || tr.GetDuration() != 180000 {
		t.Fatalf("track %v %v", tr, err)
	}
	ep, err := e.c.EpisodeMetadata(ctx, testEpisodeURI)
	if err != nil || ep.GetName() != "Episode" {
		t.Fatalf("episode %v %v", ep, err)
	}
	af, err := e.c.AudioFiles(ctx, testTrackURI)
	if err != nil || len(af.GetFiles()) != 1 || af.GetDefaultFileNormalizationParams().GetLoudnessDb() != -9 {
		t.Fatalf("audio files %v %v", af, err)
	}
	reqs := e.srv.SpclientMediaRequests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	q := reqs[0].GetEntityRequest()
	if len(q) != 1 || q[0].GetEntityUri() != testTrackURI || len(q[0].GetQuery()) != 1 || q[0].GetQuery()[0].GetExtensionKind() != emdpb.ExtensionKind_TRACK_V4 {
		t.Fatalf("request %v", reqs[0])
	}
	if got := e.script.received()[0]; got.Method != http.MethodPost || got.Path != "/extended-metadata/v0/extended-metadata" {
		t.Fatalf("sent %s %s", got.Method, got.Path)
	}
}

func TestMetadataUnavailableOverTheWire(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.c.TrackMetadata(ctx, testTrackURI); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unknown track: %v", err)
	}
	e.srv.SetSpclientMediaTrack(testTrackURI, testTrack())
	e.srv.SetSpclientMediaStatus(testTrackURI, emdpb.ExtensionKind_TRACK_V4, 403)
	if _, err := e.c.TrackMetadata(ctx, testTrackURI); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("status 403: %v", err)
	}
	e.srv.SetSpclientMediaStatus(testTrackURI, emdpb.ExtensionKind_TRACK_V4, 0)
	short := testTrack()
	short.Gid = testGID[:15]
	e.srv.SetSpclientMediaTrack(testTrackURI, short)
	if _, err := e.c.TrackMetadata(ctx, testTrackURI); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("15-byte gid: %v", err)
	}
}

func anyOf(t testing.TB, m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDecodeExtensionNilSafe(t *testing.T) {
	ok := func() *emdpb.EntityExtensionData {
		return &emdpb.EntityExtensionData{
			EntityUri:     testTrackURI,
			Header:        &emdpb.EntityExtensionDataHeader{StatusCode: 200},
			ExtensionData: anyOf(t, testTrack()),
		}
	}
	arr := func(kind emdpb.ExtensionKind, items ...*emdpb.EntityExtensionData) *emdpb.BatchedExtensionResponse {
		return &emdpb.BatchedExtensionResponse{ExtendedMetadata: []*emdpb.EntityExtensionDataArray{{ExtensionKind: kind, ExtensionData: items}}}
	}
	noHeader := ok()
	noHeader.Header = nil
	noPayload := ok()
	noPayload.ExtensionData = nil
	status404 := ok()
	status404.Header.StatusCode = 404
	otherURI := ok()
	otherURI.EntityUri = testTrackURI + "x"
	wrongType := ok()
	wrongType.ExtensionData = anyOf(t, &metadatapb.Episode{})
	badValue := ok()
	badValue.ExtensionData.Value = []byte{0xff}

	for _, tc := range []struct {
		name string
		resp *emdpb.BatchedExtensionResponse
		ok   bool
	}{
		{"ok", arr(emdpb.ExtensionKind_TRACK_V4, ok()), true},
		{"ok among others", arr(emdpb.ExtensionKind_TRACK_V4, otherURI, nil, ok()), true},
		{"empty answer", &emdpb.BatchedExtensionResponse{}, false},
		{"nil array", &emdpb.BatchedExtensionResponse{ExtendedMetadata: []*emdpb.EntityExtensionDataArray{nil}}, false},
		{"other kind", arr(emdpb.ExtensionKind_AUDIO_FILES, ok()), false},
		{"no items", arr(emdpb.ExtensionKind_TRACK_V4), false},
		{"nil item", arr(emdpb.ExtensionKind_TRACK_V4, nil), false},
		{"no header", arr(emdpb.ExtensionKind_TRACK_V4, noHeader), false},
		{"no payload", arr(emdpb.ExtensionKind_TRACK_V4, noPayload), false},
		{"status 404", arr(emdpb.ExtensionKind_TRACK_V4, status404), false},
		{"uri differs", arr(emdpb.ExtensionKind_TRACK_V4, otherURI), false},
		{"wrong type", arr(emdpb.ExtensionKind_TRACK_V4, wrongType), false},
		{"undecodable payload", arr(emdpb.ExtensionKind_TRACK_V4, badValue), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := proto.Marshal(tc.resp)
			if err != nil {
				t.Fatal(err)
			}
			var tr metadatapb.Track
			err = DecodeExtension(b, testTrackURI, emdpb.ExtensionKind_TRACK_V4, &tr)
			if tc.ok {
				if err != nil || tr.GetName() != "Song" {
					t.Fatalf("%v %v", &tr, err)
				}
				return
			}
			var ue *UnavailableError
			if !errors.As(err, &ue) || !errors.Is(err, ErrUnavailable) || ue.URI != testTrackURI {
				t.Fatalf("err %v, want an UnavailableError", err)
			}
		})
	}
	if err := DecodeExtension([]byte{0xff, 0xff}, testTrackURI, emdpb.ExtensionKind_TRACK_V4, &metadatapb.Track{}); err == nil {
		t.Fatal("garbage decoded")
	}
}

func FuzzDecodeExtension(f *testing.F) {
	for _, m := range []*emdpb.BatchedExtensionResponse{
		{ExtendedMetadata: []*emdpb.EntityExtensionDataArray{{
			ExtensionKind: emdpb.ExtensionKind_TRACK_V4,
			ExtensionData: []*emdpb.EntityExtensionData{{
				EntityUri: testTrackURI, Header: &emdpb.EntityExtensionDataHeader{StatusCode: 200}, ExtensionData: anyOf(f, testTrack()),
			}},
		}}},
		{ExtendedMetadata: []*emdpb.EntityExtensionDataArray{{
			ExtensionKind: emdpb.ExtensionKind_AUDIO_FILES,
			ExtensionData: []*emdpb.EntityExtensionData{{
				EntityUri: testTrackURI, Header: &emdpb.EntityExtensionDataHeader{StatusCode: 200},
				ExtensionData: anyOf(f, &audiofilespb.AudioFilesExtensionResponse{Files: []*audiofilespb.ExtendedAudioFile{{File: &metadatapb.AudioFile{FileId: testFileID}}}}),
			}},
		}}},
		{ExtendedMetadata: []*emdpb.EntityExtensionDataArray{{ExtensionKind: emdpb.ExtensionKind_TRACK_V4, ExtensionData: []*emdpb.EntityExtensionData{{EntityUri: testTrackURI}}}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, kind := range []emdpb.ExtensionKind{emdpb.ExtensionKind_TRACK_V4, emdpb.ExtensionKind_AUDIO_FILES, emdpb.ExtensionKind_EPISODE_V4} {
			var m proto.Message
			switch kind {
			case emdpb.ExtensionKind_TRACK_V4:
				m = &metadatapb.Track{}
			case emdpb.ExtensionKind_AUDIO_FILES:
				m = &audiofilespb.AudioFilesExtensionResponse{}
			default:
				m = &metadatapb.Episode{}
			}
			if err := DecodeExtension(b, testTrackURI, kind, m); err != nil {
				continue
			}
			// A success means the exact item was there with status 200.
			var resp emdpb.BatchedExtensionResponse
			if proto.Unmarshal(b, &resp) != nil {
				t.Fatal("decoded a payload from an answer that does not decode")
			}
		}
	})
}

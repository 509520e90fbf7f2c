package spclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	emdpb "github.com/devgianlu/go-librespot/proto/spotify/extendedmetadata"
	audiofilespb "github.com/devgianlu/go-librespot/proto/spotify/extendedmetadata/audiofiles"
	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"
	"google.golang.org/protobuf/proto"
)

// ErrUnavailable matches every answer that says an item cannot be played
// or described: a missing array, item, header or payload, a status other
// than 200, a payload of the wrong type, a storage-resolve without CDN.
var ErrUnavailable = errors.New("unavailable")

// UnavailableError says why an extended-metadata item is unavailable.
type UnavailableError struct {
	URI    string
	Kind   emdpb.ExtensionKind
	Reason string
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("extended metadata %s for %s: unavailable: %s", e.Kind, e.URI, e.Reason)
}

// Is makes every UnavailableError match ErrUnavailable.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Type URLs of the extension payloads we read.
const (
	TypeURLTrack      = "type.googleapis.com/spotify.metadata.Track"
	TypeURLEpisode    = "type.googleapis.com/spotify.metadata.Episode"
	TypeURLAudioFiles = "type.googleapis.com/spotify.extendedmetadata.audiofiles.AudioFilesExtensionResponse"
)

// ExtendedMetadata sends one batch: POST
// /extended-metadata/v0/extended-metadata with a BatchedEntityRequest and
// returns the raw BatchedExtensionResponse body.
func (c *Client) ExtendedMetadata(ctx context.Context, req *emdpb.BatchedEntityRequest) ([]byte, error) {
	body, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("extended metadata: encode request: %w", err)
	}
	resp, err := c.Do(ctx, Request{Method: http.MethodPost, Path: "extended-metadata/v0/extended-metadata", Body: body})
	if err != nil {
		return nil, fmt.Errorf("extended metadata: %w", err)
	}
	return resp.Body, nil
}

// extension fetches one kind for one uri and decodes it into into.
func (c *Client) extension(ctx context.Context, uri string, kind emdpb.ExtensionKind, into proto.Message) error {
	body, err := c.ExtendedMetadata(ctx, &emdpb.BatchedEntityRequest{
		EntityRequest: []*emdpb.EntityRequest{{
			EntityUri: uri,
			Query:     []*emdpb.ExtensionQuery{{ExtensionKind: kind}},
		}},
	})
	if err != nil {
		return fmt.Errorf("%s for %s: %w", kind, uri, err)
	}
	return DecodeExtension(body, uri, kind, into)
}

// TrackMetadata fetches TRACK_V4 for a "spotify:track:<base62>" uri. The
// track's gid must be 16 bytes.
func (c *Client) TrackMetadata(ctx context.Context, uri string) (*metadatapb.Track, error) {
	var t metadatapb.Track
	if err := c.extension(ctx, uri, emdpb.ExtensionKind_TRACK_V4, &t); err != nil {
		return nil, err
	}
	if len(t.GetGid()) != 16 {
		return nil, &UnavailableError{URI: uri, Kind: emdpb.ExtensionKind_TRACK_V4, Reason: fmt.Sprintf("gid of %d bytes, want 16", len(t.GetGid()))}
	}
	return &t, nil
}

// EpisodeMetadata fetches EPISODE_V4 for a "spotify:episode:<base62>" uri.
// The episode's gid must be 16 bytes.
func (c *Client) EpisodeMetadata(ctx context.Context, uri string) (*metadatapb.Episode, error) {
	var e metadatapb.Episode
	if err := c.extension(ctx, uri, emdpb.ExtensionKind_EPISODE_V4, &e); err != nil {
		return nil, err
	}
	if len(e.GetGid()) != 16 {
		return nil, &UnavailableError{URI: uri, Kind: emdpb.ExtensionKind_EPISODE_V4, Reason: fmt.Sprintf("gid of %d bytes, want 16", len(e.GetGid()))}
	}
	return &e, nil
}

// AudioFiles fetches AUDIO_FILES (files with normalisation parameters) for
// a track uri.
func (c *Client) AudioFiles(ctx context.Context, uri string) (*audiofilespb.AudioFilesExtensionResponse, error) {
	var a audiofilespb.AudioFilesExtensionResponse
	if err := c.extension(ctx, uri, emdpb.ExtensionKind_AUDIO_FILES, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// DecodeExtension finds, in a BatchedExtensionResponse body, the array of
// kind and in it the item whose entity_uri is exactly uri, requires its
// header's status 200 and a payload of kind's type, and unmarshals the
// payload into into. Every missing part is an *UnavailableError; it never
// panics on any input.
func DecodeExtension(body []byte, uri string, kind emdpb.ExtensionKind, into proto.Message) error {
	var resp emdpb.BatchedExtensionResponse
	if err := proto.Unmarshal(body, &resp); err != nil {
		return fmt.Errorf("extended metadata %s for %s: decode answer: %w", kind, uri, err)
	}
	unavailable := func(format string, args ...any) error {
		return &UnavailableError{URI: uri, Kind: kind, Reason: fmt.Sprintf(format, args...)}
	}
	var arr *emdpb.EntityExtensionDataArray
	for _, a := range resp.GetExtendedMetadata() {
		if a.GetExtensionKind() == kind {
			arr = a
			break
		}
	}
	if arr == nil {
		return unavailable("no array of this kind in the answer")
	}
	var item *emdpb.EntityExtensionData
	for _, d := range arr.GetExtensionData() {
		if d.GetEntityUri() == uri {
			item = d
			break
		}
	}
	switch {
	case item == nil:
		return unavailable("no item for the uri")
	case item.GetHeader() == nil:
		return unavailable("item without header")
	case item.GetHeader().GetStatusCode() != 200:
		return unavailable("status %d", item.GetHeader().GetStatusCode())
	case item.GetExtensionData() == nil:
		return unavailable("item without payload")
	}
	want := ""
	switch kind {
	case emdpb.ExtensionKind_TRACK_V4:
		want = TypeURLTrack
	case emdpb.ExtensionKind_EPISODE_V4:
		want = TypeURLEpisode
	case emdpb.ExtensionKind_AUDIO_FILES:
		want = TypeURLAudioFiles
	}
	if got := item.GetExtensionData().GetTypeUrl(); want != "" && got != want {
		return unavailable("payload of type %q, want %q", got, want)
	}
	if err := proto.Unmarshal(item.GetExtensionData().GetValue(), into); err != nil {
		return unavailable("decode payload: %v", err)
	}
	return nil
}

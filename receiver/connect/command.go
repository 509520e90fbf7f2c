package connect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
)

// envelope is the JSON of a player command request. Nested Spotify objects
// use the protobuf field names, which are also the json tags of the
// generated structs, so they decode straight into them.
type envelope struct {
	MessageID uint32   `json:"message_id"`
	SentBy    string   `json:"sent_by_device_id"`
	Command   *command `json:"command"`
}

type command struct {
	Endpoint string `json:"endpoint"`

	Data     []byte          `json:"data"` // transfer: base64 TransferState
	Value    json.RawMessage `json:"value"`
	Position *int64          `json:"position"`
	Relative string          `json:"relative"`

	Context    *connectpb.Context      `json:"context"`
	PlayOrigin *connectpb.PlayOrigin   `json:"play_origin"`
	Options    *commandOptions         `json:"options"`
	Track      *connectpb.ContextTrack `json:"track"`
	SessionID  string                  `json:"session_id"`

	NextTracks *[]*connectpb.ProvidedTrack `json:"next_tracks"`
	PrevTracks []*connectpb.ProvidedTrack  `json:"prev_tracks"`

	ShufflingContext *bool `json:"shuffling_context"`
	RepeatingContext *bool `json:"repeating_context"`
	RepeatingTrack   *bool `json:"repeating_track"`
}

type commandOptions struct {
	// transfer
	RestorePaused   string `json:"restore_paused"`
	RestorePosition string `json:"restore_position"`
	RestoreTrack    string `json:"restore_track"`
	// play
	SkipTo                *skipTo                 `json:"skip_to"`
	PlayerOptionsOverride *optionsOverride        `json:"player_options_override"`
	InitiallyPaused       bool                    `json:"initially_paused"`
	SeekTo                *int64                  `json:"seek_to"`
	Suppressions          *connectpb.Suppressions `json:"suppressions"`
	// skip_prev
	AllowSeeking bool `json:"allow_seeking"`
}

type skipTo struct {
	TrackUID   string `json:"track_uid"`
	TrackURI   string `json:"track_uri"`
	TrackIndex *int   `json:"track_index"`
}

type optionsOverride struct {
	ShufflingContext *bool `json:"shuffling_context"`
	RepeatingContext *bool `json:"repeating_context"`
	RepeatingTrack   *bool `json:"repeating_track"`
}

var errMalformed = errors.New("malformed command")

func parseEnvelope(payload []byte) (*envelope, error) {
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("decode player command: %w", err)
	}
	if env.Command == nil || env.Command.Endpoint == "" {
		return nil, fmt.Errorf("player command without endpoint: %w", errMalformed)
	}
	return &env, nil
}

// hasValue: "value" present and not null (null would decode as zero).
func (c *command) hasValue() bool {
	v := bytes.TrimSpace(c.Value)
	return len(v) > 0 && !bytes.Equal(v, []byte("null"))
}

func (c *command) boolValue() (bool, bool) {
	var b bool
	if !c.hasValue() || json.Unmarshal(c.Value, &b) != nil {
		return false, false
	}
	return b, true
}

func (c *command) intValue() (int64, bool) {
	var f float64
	if !c.hasValue() || json.Unmarshal(c.Value, &f) != nil {
		return 0, false
	}
	if f < -1e12 || f > 1e12 {
		return 0, false
	}
	return int64(f), true
}

// The ids are 22 base62 characters; anything else is refused rather than
// handed to the player.
func validID(id string) bool {
	if len(id) != 22 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// validTrackURI accepts playable items: tracks and episodes.
func validTrackURI(uri string) bool {
	if id, ok := strings.CutPrefix(uri, "spotify:track:"); ok {
		return validID(id)
	}
	if id, ok := strings.CutPrefix(uri, "spotify:episode:"); ok {
		return validID(id)
	}
	return false
}

// validContextURI accepts spotify: URIs of any kind (album, playlist,
// artist, show, station, user collections, …) without spaces or controls.
func validContextURI(uri string) bool {
	rest, ok := strings.CutPrefix(uri, "spotify:")
	if !ok || rest == "" || len(uri) > 1024 {
		return false
	}
	for i := 0; i < len(uri); i++ {
		if uri[i] <= ' ' || uri[i] == 0x7f {
			return false
		}
	}
	return true
}

var errLoadTimeout = errors.New("load timed out")

package trackload

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/speakerbox/speakerbox/audio/player"
	"github.com/speakerbox/speakerbox/audio/source"
	"github.com/speakerbox/speakerbox/receiver/media"
)

// Kind says whether a Loaded is a track or a podcast episode.
type Kind string

// The kinds of items.
const (
	KindTrack   Kind = "track"
	KindEpisode Kind = "episode"
)

// Meta is what the hooks (track_changed) and the logs say of an item.
type Meta struct {
	Kind       Kind
	URI        string   // the URI asked for (not the relinked one)
	Name       string   // track or episode title
	Artists    []string // track: artists; episode: the show's publisher
	Album      string   // track: album; episode: the show's name
	Covers     []string // image URLs, largest first
	Number     int      // track number on its disc; 0 for episodes
	DurationMs int64
	Explicit   bool
}

// Loaded is an item ready to play: Track's Source streams the encrypted
// file from the CDN and Track.Key decrypts it. Close it when the player is
// done with it (or never used it): that stops the fetching and frees the
// stream's buffers.
type Loaded struct {
	Meta  Meta
	Track player.Track
	// FileID is the hex id of the chosen file, Bitrate its nominal rate
	// in kbps (for logs and the status).
	FileID  string
	Bitrate int
	// Closer stops the stream; nil when there is nothing to stop.
	Closer io.Closer

	// PlayedURI is the URI of the track whose file plays: Meta.URI, or the
	// alternative it was relinked to in the account's country.
	PlayedURI string
	// Norm and AlbumNorm are AUDIO_FILES' track and album loudness
	// (nil when the answer had none, and for episodes). The player
	// normalises from the file's header; see the package doc for which
	// wins and why.
	Norm, AlbumNorm *media.Norm
	// Timings is where the time to a playable stream went.
	Timings Timings
}

// Timings splits the start latency of one Load. The key request runs
// beside storage-resolve and the first chunk, so Total is about Metadata
// plus the longer of Key and StorageResolve+FirstChunk, not their sum.
type Timings struct {
	Metadata       time.Duration // country, TRACK_V4/EPISODE_V4 and AUDIO_FILES
	Key            time.Duration // the audio key from the access point
	StorageResolve time.Duration // the CDN URLs
	FirstChunk     time.Duration // until the stream holds its first bytes
	Total          time.Duration
}

// Close stops the stream behind l; it is safe on a nil Loaded and twice.
func (l *Loaded) Close() error {
	if l == nil || l.Closer == nil {
		return nil
	}
	c := l.Closer
	l.Closer = nil
	return c.Close()
}

// StreamStats returns the counters of l's CDN stream (requests, bytes,
// failovers, chunks held); ok is false when l has no such stream.
func (l *Loaded) StreamStats() (st source.Stats, ok bool) {
	if l == nil {
		return source.Stats{}, false
	}
	s, ok := l.Track.Source.(*source.Stream)
	if !ok {
		return source.Stats{}, false
	}
	return s.Stats(), true
}

// ErrUnavailable matches every *UnavailableError: the item cannot be played
// here and retrying will not help (skip it).
var ErrUnavailable = errors.New("item unavailable")

// UnavailableError says why an item cannot be played: restricted in the
// account's country with no alternative, no Ogg Vorbis file, the audio key
// refused, not found, malformed metadata.
type UnavailableError struct {
	URI    string
	Reason string
	Err    error // the cause, if any
}

func (e *UnavailableError) Error() string {
	s := fmt.Sprintf("%s unavailable: %s", e.URI, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns the cause.
func (e *UnavailableError) Unwrap() error { return e.Err }

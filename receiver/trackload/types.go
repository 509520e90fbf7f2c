// Package trackload turns a Spotify track or episode URI into a file the
// player can decode: metadata through extended-metadata, the account's
// country restrictions and relinking, the choice of an Ogg Vorbis file,
// the audio key through the access point, storage-resolve, and a streaming
// CDN source with failover. It knows nothing of the Connect state: the
// track player asks it for a URI and gets a Loaded back.
package trackload

import (
	"errors"
	"fmt"
	"io"

	"github.com/speakerbox/speakerbox/audio/player"
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

package player

import (
	"fmt"
	"io"

	"github.com/speakerbox/speakerbox/audio/decode"
	"github.com/speakerbox/speakerbox/audio/decrypt"
	"github.com/speakerbox/speakerbox/audio/spotifyhdr"
)

// Track is one audio file to play.
type Track struct {
	ID     string      // for events and logs
	Source io.ReaderAt // the file as served (encrypted when Key is set)
	Size   int64
	// Key is the 16-byte audio key; nil means a plain Ogg Vorbis file
	// without the Spotify header (and without loudness data).
	Key []byte
	// AlbumContext selects album normalisation in "auto" mode.
	AlbumContext bool
}

// opened is a track ready to decode.
type opened struct {
	dec  *decode.Decoder
	norm *spotifyhdr.Normalisation // nil for plain Ogg
}

// openTrack builds the front of the chain for t: source -> AES-CTR ->
// Spotify header -> Vorbis decoder.
func openTrack(t Track) (opened, error) {
	if t.Source == nil || t.Size <= 0 {
		return opened{}, fmt.Errorf("track %q: no source", t.ID)
	}
	if t.Key == nil {
		d, err := decode.Open(t.Source, t.Size)
		if err != nil {
			return opened{}, fmt.Errorf("track %q: %w", t.ID, err)
		}
		return opened{dec: d}, nil
	}
	plain, err := decrypt.NewReaderAt(t.Source, t.Key)
	if err != nil {
		return opened{}, fmt.Errorf("track %q: %w", t.ID, err)
	}
	n, err := spotifyhdr.Read(plain)
	if err != nil {
		return opened{}, fmt.Errorf("track %q: %w", t.ID, err)
	}
	ogg := io.NewSectionReader(plain, spotifyhdr.Size, t.Size-spotifyhdr.Size)
	d, err := decode.Open(ogg, ogg.Size())
	if err != nil {
		return opened{}, fmt.Errorf("track %q: %w", t.ID, err)
	}
	// The header's seek table lets a seek read near its target rather
	// than every page before it; without one, seeks work as for plain Ogg.
	if st, err := spotifyhdr.ReadSeekTable(plain); err == nil {
		d.SetSeekIndex(st)
	}
	return opened{dec: d, norm: &n}, nil
}

// Package spotifyhdr reads the header Spotify puts in front of the Ogg
// stream of its audio files: 0xa7 bytes holding, among other things, the
// loudness normalisation data.
package spotifyhdr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Size is the length of the header; the Ogg stream starts right after it.
const Size = 0xa7

// normOffset is where the four normalisation floats start.
const normOffset = 144

// Normalisation is the loudness data of one file. Gains are in dB (what to
// add to reach Spotify's reference loudness); peaks are linear sample
// amplitudes (1.0 = full scale).
type Normalisation struct {
	TrackGainDB float32
	TrackPeak   float32
	AlbumGainDB float32
	AlbumPeak   float32
}

// ErrNotOgg says the bytes after the header are not an Ogg stream: the file
// is not a Spotify audio file, or the key is wrong.
var ErrNotOgg = errors.New("no Ogg stream after the Spotify header (wrong key or not a Spotify audio file)")

// Parse reads the header from the first Size bytes of h and checks that the
// Ogg stream follows: h must hold at least Size+4 bytes.
func Parse(h []byte) (Normalisation, error) {
	if len(h) < Size+4 {
		return Normalisation{}, fmt.Errorf("spotify header: file too short (%d bytes, need %d)", len(h), Size+4)
	}
	if string(h[Size:Size+4]) != "OggS" {
		return Normalisation{}, ErrNotOgg
	}
	f := func(i int) float32 {
		return math.Float32frombits(binary.LittleEndian.Uint32(h[normOffset+4*i:]))
	}
	n := Normalisation{TrackGainDB: f(0), TrackPeak: f(1), AlbumGainDB: f(2), AlbumPeak: f(3)}
	if err := n.validate(); err != nil {
		return Normalisation{}, fmt.Errorf("spotify header: %w", err)
	}
	return n, nil
}

// validate rejects values no real file carries, so a damaged header cannot
// make the gain stage blow up the volume.
func (n Normalisation) validate() error {
	for _, g := range []struct {
		name string
		v    float32
	}{{"track gain", n.TrackGainDB}, {"album gain", n.AlbumGainDB}} {
		if math.IsNaN(float64(g.v)) || g.v < -70 || g.v > 70 {
			return fmt.Errorf("%s %v dB out of range -70..70", g.name, g.v)
		}
	}
	for _, p := range []struct {
		name string
		v    float32
	}{{"track peak", n.TrackPeak}, {"album peak", n.AlbumPeak}} {
		if math.IsNaN(float64(p.v)) || p.v < 0 || p.v > 100 {
			return fmt.Errorf("%s %v out of range 0..100", p.name, p.v)
		}
	}
	return nil
}

// Read parses the header of the (decrypted) file r.
func Read(r io.ReaderAt) (Normalisation, error) {
	var h [Size + 4]byte
	n, err := r.ReadAt(h[:], 0)
	if n < len(h) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Normalisation{}, fmt.Errorf("read spotify header: %w", err)
	}
	return Parse(h[:])
}

// Build makes a synthetic header carrying n, for tests and test data. The
// bytes other than the normalisation data are a fixed filler.
func Build(n Normalisation) []byte {
	h := make([]byte, Size)
	for i := range h {
		h[i] = byte(i*7 + 3)
	}
	for i, v := range []float32{n.TrackGainDB, n.TrackPeak, n.AlbumGainDB, n.AlbumPeak} {
		binary.LittleEndian.PutUint32(h[normOffset+4*i:], math.Float32bits(v))
	}
	return h
}

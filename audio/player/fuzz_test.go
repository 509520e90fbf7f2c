package player

import (
	"bytes"
	"os"
	"testing"

	"github.com/speakerbox/speakerbox/audio/audiotest"
)

// FuzzOpenTrack drives the front of the chain (decryption, Spotify header,
// Vorbis decoder) with arbitrary files, plain and encrypted: it must return
// errors, never panic or hang.
func FuzzOpenTrack(f *testing.F) {
	tiny, err := os.ReadFile("../decode/testdata/tiny.ogg")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tiny, false)
	f.Add(audiotest.SpotifyBytes(f, tiny, audiotest.Key, audiotest.Norm), true)
	f.Add(tiny[:len(tiny)/2], false)
	f.Add([]byte("OggS"), false)
	f.Fuzz(func(t *testing.T, b []byte, encrypted bool) {
		tr := Track{ID: "fuzz", Source: bytes.NewReader(b), Size: int64(len(b))}
		if encrypted {
			tr.Key = audiotest.Key
		}
		o, err := openTrack(tr)
		if err != nil {
			return
		}
		buf := make([]float32, 2048)
		for i := 0; i < 5000; i++ {
			if _, err := o.dec.Read(buf); err != nil {
				break
			}
		}
	})
}

// Package decodetest gives tests the reference they compare played audio
// with: what our decoder makes of a whole Ogg Vorbis file.
package decodetest

import (
	"bytes"
	"io"
	"testing"

	"github.com/speakerbox/speakerbox/audio/decode"
)

// All decodes the whole of ogg into interleaved float samples; a file it
// cannot decode fails the test.
func All(tb testing.TB, ogg []byte) []float32 {
	tb.Helper()
	d, err := decode.Open(bytes.NewReader(ogg), int64(len(ogg)))
	if err != nil {
		tb.Fatalf("decode the reference: %v", err)
	}
	var out []float32
	buf := make([]float32, 4096)
	for {
		n, err := d.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatalf("decode the reference: %v", err)
		}
	}
}

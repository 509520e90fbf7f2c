package decode

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"testing"

	"github.com/jfreymuth/oggvorbis"
	"github.com/speakerbox/speakerbox/audio/audiotest"
)

// The benchmarks below decode the same files three ways so that benchstat
// can compare them: the bare library (oggvorbis.Reader on a bytes.Reader),
// our Decoder, and libvorbis's oggdec. Run them interleaved (several runs
// of the test binary with -count 1) on a shared machine.

var benchKbps = []int{320, 160, 96}

func benchFile(b *testing.B, kbps int) (string, []byte) {
	path := audiotest.Ogg(b, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: kbps, Repeat: 10})
	return path, audiotest.Read(b, path)
}

// floatReader is what both decoders offer: interleaved float32 samples.
type floatReader interface {
	Read(p []float32) (int, error)
}

// benchDecoder decodes each test file to the end with the reader open
// returns, for two read-buffer sizes.
func benchDecoder(b *testing.B, open func(data []byte) (floatReader, error)) {
	for _, kbps := range benchKbps {
		for _, size := range []int{4096, 16384} {
			b.Run(fmt.Sprintf("%dk/buf%d", kbps, size), func(b *testing.B) {
				_, data := benchFile(b, kbps)
				buf := make([]float32, size)
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					r, err := open(data)
					if err != nil {
						b.Fatal(err)
					}
					for {
						if _, err := r.Read(buf); err != nil {
							if err != io.EOF {
								b.Fatal(err)
							}
							break
						}
					}
				}
			})
		}
	}
}

func BenchmarkDecodeBareLibrary(b *testing.B) {
	benchDecoder(b, func(data []byte) (floatReader, error) {
		return oggvorbis.NewReader(bytes.NewReader(data))
	})
}

func BenchmarkDecodeOurs(b *testing.B) {
	benchDecoder(b, func(data []byte) (floatReader, error) {
		return Open(bytes.NewReader(data), int64(len(data)))
	})
}

func BenchmarkDecodeOggdec(b *testing.B) {
	audiotest.Need(b, "oggdec")
	for _, kbps := range benchKbps {
		b.Run(fmt.Sprintf("%dk", kbps), func(b *testing.B) {
			path, data := benchFile(b, kbps)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if out, err := exec.Command("oggdec", "-Q", "-R", "-o", "/dev/null", path).CombinedOutput(); err != nil {
					b.Fatalf("oggdec: %v %s", err, out)
				}
			}
		})
	}
}

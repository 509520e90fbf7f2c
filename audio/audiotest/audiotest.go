// Package audiotest generates the audio test files: music-like material
// (chords, sweeps, noise bursts, silence) made with sox and encoded with
// oggenc, optionally wrapped as Spotify files (synthetic header +
// AES-CTR). Files are cached in the system temporary directory, keyed by
// their parameters, so the packages that use them generate each only once.
package audiotest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/speakerbox/speakerbox/audio/decrypt"
	"github.com/speakerbox/speakerbox/audio/spotifyhdr"
	"github.com/speakerbox/speakerbox/internal/testenv"
)

// Key is the audio key of every encrypted test file.
var Key = []byte{0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}

// Spec describes one test file.
type Spec struct {
	Rate     int // 44100 or 48000
	Channels int // 1 or 2
	Kbps     int // 96, 160 or 320: the Spotify bitrates (as oggenc quality 2, 5, 9)
	Variant  int // changes the material, so consecutive tracks differ
	Repeat   int // the 6.4 s of material is repeated this many times (0: once); for benchmarks
}

// All is every combination of rate, channel count and bitrate.
func All() []Spec {
	var s []Spec
	for _, r := range []int{44100, 48000} {
		for _, c := range []int{1, 2} {
			for _, k := range []int{96, 160, 320} {
				s = append(s, Spec{Rate: r, Channels: c, Kbps: k})
			}
		}
	}
	return s
}

func (s Spec) String() string {
	name := fmt.Sprintf("%dHz-%dch-%dk-v%d", s.Rate, s.Channels, s.Kbps, s.Variant)
	if s.Repeat > 1 {
		name += fmt.Sprintf("-x%d", s.Repeat)
	}
	return name
}

func quality(kbps int) string {
	switch {
	case kbps <= 96:
		return "2"
	case kbps <= 160:
		return "5"
	}
	return "9"
}

// Need stops tb when one of the tools that make and check the test files is
// missing: a skip by hand, a failure under CI (see internal/testenv).
func Need(tb testing.TB, tools ...string) {
	tb.Helper()
	for _, t := range tools {
		pkg := "vorbis-tools" // oggenc, oggdec
		if t == "sox" {
			pkg = "sox"
		}
		testenv.Tool(tb, t, pkg)
	}
}

func cacheDir(tb testing.TB) string {
	d := filepath.Join(os.TempDir(), "speakerbox-testaudio-v1")
	if err := os.MkdirAll(d, 0o755); err != nil {
		tb.Fatal(err)
	}
	return d
}

func run(tb testing.TB, dir, name string, args ...string) {
	tb.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// Ogg returns the path of the Ogg Vorbis file for s, generating it if
// needed.
func Ogg(tb testing.TB, s Spec) string {
	tb.Helper()
	Need(tb, "sox", "oggenc")
	dir := cacheDir(tb)
	out := filepath.Join(dir, s.String()+".ogg")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	work, err := os.MkdirTemp(dir, "gen-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(work)
	r := fmt.Sprint(s.Rate)
	f := func(hz float64) string { return fmt.Sprintf("%.2f", hz*(1+0.125*float64(s.Variant))) }
	run(tb, work, "sox", "-n", "-r", r, "-c", "1", "c1.wav", "synth", "1.5", "sine", f(261.63), "sine", "mix", f(329.63), "sine", "mix", f(392), "gain", "-6")
	run(tb, work, "sox", "c1.wav", "-c", "2", "c.wav")
	run(tb, work, "sox", "-n", "-r", r, "-c", "2", "s.wav", "synth", "2", "sine", f(40)+"-16000", "sine", "16000-"+f(40), "gain", "-3")
	run(tb, work, "sox", "-n", "-r", r, "-c", "2", "n.wav", "synth", "0.4", "whitenoise", "fade", "0.01", "0.4", "0.05", "gain", "-8")
	run(tb, work, "sox", "-n", "-r", r, "-c", "2", "z.wav", "trim", "0", "0.5")
	args := []string{}
	for i := 0; i < max(1, s.Repeat); i++ {
		args = append(args, "c.wav", "z.wav", "s.wav", "n.wav", "z.wav", "c.wav")
	}
	args = append(args, "-b", "16", "-e", "signed", "-c", fmt.Sprint(s.Channels), "all.wav")
	run(tb, work, "sox", args...)
	run(tb, work, "oggenc", "-Q", "-q", quality(s.Kbps), "-o", "all.ogg", "all.wav")
	if err := os.Rename(filepath.Join(work, "all.ogg"), out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// Norm is the normalisation data written into every Spotify test file.
var Norm = spotifyhdr.Normalisation{TrackGainDB: -3.5, TrackPeak: 0.9, AlbumGainDB: -2, AlbumPeak: 0.95}

// SpotifyBytes wraps an Ogg file as Spotify serves it: a header page with
// n and the stream's seek table, then the Ogg stream, all encrypted with
// key.
func SpotifyBytes(tb testing.TB, ogg []byte, key []byte, n spotifyhdr.Normalisation) []byte {
	tb.Helper()
	st, err := spotifyhdr.SeekTableFor(ogg)
	if err != nil {
		// A stream cut short or damaged on purpose has no table to
		// give; its header carries the loudness alone.
		return encrypt(tb, spotifyhdr.Build(n), ogg, key)
	}
	return encrypt(tb, spotifyhdr.BuildWithSeek(n, st), ogg, key)
}

// SpotifyBytesNoSeekTable is SpotifyBytes with a header that carries n but
// no seek table (spotifyhdr.Build's), so seeks walk the stream: the
// reference the seek table is measured against.
func SpotifyBytesNoSeekTable(tb testing.TB, ogg []byte, key []byte, n spotifyhdr.Normalisation) []byte {
	tb.Helper()
	return encrypt(tb, spotifyhdr.Build(n), ogg, key)
}

func encrypt(tb testing.TB, header, ogg, key []byte) []byte {
	tb.Helper()
	plain := append(append([]byte(nil), header...), ogg...)
	enc, err := decrypt.Encrypt(plain, key)
	if err != nil {
		tb.Fatal(err)
	}
	return enc
}

// Read returns the contents of path.
func Read(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Reference decodes path with oggdec (libvorbis) to interleaved 16-bit
// samples.
func Reference(tb testing.TB, path string) []int16 {
	tb.Helper()
	Need(tb, "oggdec")
	var out bytes.Buffer
	cmd := exec.Command("oggdec", "-Q", "-R", "-b", "16", "-e", "0", "-s", "1", "-o", "-", path)
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		tb.Fatalf("oggdec %s: %v", path, err)
	}
	pcm := make([]int16, out.Len()/2)
	if err := binary.Read(&out, binary.LittleEndian, pcm); err != nil {
		tb.Fatal(err)
	}
	return pcm
}

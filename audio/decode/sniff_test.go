package decode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/speakerbox/speakerbox/audio/audiotest"
)

// oggPage builds the first bytes of an Ogg stream whose first packet starts
// with payload.
func oggPage(payload string) []byte {
	h := make([]byte, pageHeaderSize, pageHeaderSize+1+len(payload))
	copy(h, "OggS")
	h[5] = 2 // beginning of stream
	binary.LittleEndian.PutUint32(h[14:], 1234)
	h[26] = 1
	h = append(h, byte(len(payload)))
	return append(h, payload...)
}

func TestSniff(t *testing.T) {
	tiny := audiotest.Read(t, "testdata/tiny.ogg")
	wav := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"), make([]byte, 40)...)
	cases := []struct {
		name string
		in   []byte
		want string // "" for Ogg Vorbis (nil error); else a part of the message
	}{
		{"ogg vorbis", tiny, ""},
		{"ogg vorbis, first page only", tiny[:60], ""},
		{"ogg page too short to tell", tiny[:20], ""},
		{"wav", wav, "a WAV file (RIFF/WAVE)"},
		{"riff not wave", []byte("RIFF\x24\x00\x00\x00AVI LIST"), "RIFF file (not WAVE)"},
		{"aiff", []byte("FORM\x00\x00\x00\x00AIFFCOMM"), "AIFF"},
		{"flac", []byte("fLaC\x00\x00\x00\x22"), "a FLAC file"},
		{"mp3 with id3", []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), "MP3 file (ID3 tag)"},
		{"mp3 frames", []byte{0xff, 0xfb, 0x90, 0x64, 0, 0, 0, 0}, "MP3 file (MPEG audio frames)"},
		{"aac adts", []byte{0xff, 0xf1, 0x50, 0x80, 0, 0x1f, 0xfc}, "AAC"},
		{"m4a", []byte("\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00"), "MP4/M4A"},
		{"ogg opus", oggPage("OpusHead\x01\x02"), "Ogg Opus"},
		{"ogg flac", oggPage("\x7fFLAC\x01\x00"), "Ogg FLAC"},
		{"ogg speex", oggPage("Speex   1.2"), "Ogg Speex"},
		{"ogg theora", oggPage("\x80theora\x03"), "Ogg Theora"},
		{"ogg unknown codec", oggPage("\x01whatever"), "codec other than Vorbis"},
		{"empty", nil, "empty file"},
		{"text", []byte("hello, this is not audio at all"), "does not start with an Ogg page"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Sniff(bytes.NewReader(c.in))
			if c.want == "" {
				if err != nil {
					t.Fatalf("Sniff = %v, want nil", err)
				}
				return
			}
			var nv *NotVorbisError
			if !errors.As(err, &nv) {
				t.Fatalf("Sniff = %v, want a *NotVorbisError", err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "not an Ogg Vorbis file") {
				t.Errorf("Sniff = %q, want it to say %q", err, c.want)
			}
		})
	}
}

// Open reports a file of another format once, as what it is, and not as a
// damaged Vorbis stream.
func TestOpenNamesOtherFormats(t *testing.T) {
	wav := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"), make([]byte, 4000)...)
	_, err := Open(bytes.NewReader(wav), int64(len(wav)))
	var nv *NotVorbisError
	if !errors.As(err, &nv) || nv.Format != "a WAV file (RIFF/WAVE)" {
		t.Fatalf("Open(WAV) = %v", err)
	}
	if strings.Contains(err.Error(), "truncated") || strings.Contains(err.Error(), "damaged") {
		t.Errorf("Open(WAV) = %q: a WAV file is not a damaged Ogg file", err)
	}
	// A damaged Ogg Vorbis file is still reported as damaged.
	tiny := audiotest.Read(t, "testdata/tiny.ogg")
	_, err = Open(bytes.NewReader(tiny[:len(tiny)/2]), int64(len(tiny)/2))
	if err == nil || errors.As(err, &nv) {
		t.Errorf("Open(half an Ogg Vorbis file) = %v, want a damage error", err)
	}
}

func FuzzSniff(f *testing.F) {
	f.Add(audiotest.Read(f, "testdata/tiny.ogg")[:300])
	f.Add([]byte("RIFF\x24\x00\x00\x00WAVEfmt "))
	f.Add([]byte("fLaC"))
	f.Add([]byte("ID3\x04"))
	f.Add([]byte{0xff, 0xfb, 0x90})
	f.Add(oggPage("OpusHead"))
	f.Add([]byte("OggS\x00\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Sniff(bytes.NewReader(b))
		var nv *NotVorbisError
		if err != nil && !errors.As(err, &nv) {
			t.Fatalf("Sniff returned a %T, want *NotVorbisError: %v", err, err)
		}
		if err == nil && !bytes.HasPrefix(b, []byte("OggS")) {
			t.Fatalf("Sniff accepted a stream that does not start with OggS: %q", b)
		}
	})
}

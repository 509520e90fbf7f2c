package decode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// NotVorbisError says a stream is not Ogg Vorbis and, when its first bytes
// tell, what it is instead. People hand a player whatever audio file they
// have; "truncated or damaged" would send them looking for a broken
// download.
type NotVorbisError struct {
	// Format names what the stream is ("WAV (RIFF/WAVE)", "FLAC",
	// "Ogg Opus", ...), or is "" when it is not recognised.
	Format string
}

func (e *NotVorbisError) Error() string {
	if e.Format == "" {
		return "not an Ogg Vorbis file (it does not start with an Ogg page)"
	}
	return "not an Ogg Vorbis file: it is " + e.Format
}

// sniffSize is how much of the start Sniff reads: an Ogg page header with a
// full segment table, and the start of the first packet.
const sniffSize = pageHeaderSize + 255 + 16

// Sniff looks at the first bytes of r. It returns nil when they start an Ogg
// stream whose first packet is a Vorbis identification header, and a
// *NotVorbisError otherwise (or the read error). It only looks at the
// start: a stream that begins well may still be damaged further on.
func Sniff(r io.ReaderAt) error {
	b := make([]byte, sniffSize)
	n, err := r.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read start of stream: %w", err)
	}
	if f := identify(b[:n]); f != "" {
		return &NotVorbisError{Format: f}
	}
	if n < 4 || !bytes.HasPrefix(b, []byte("OggS")) {
		return &NotVorbisError{}
	}
	return nil
}

// identify names the format of a stream from its first bytes: "" for Ogg
// Vorbis (or an Ogg page too short to tell), and for what it does not know.
func identify(b []byte) string {
	switch {
	case len(b) == 0:
		return "an empty file"
	case bytes.HasPrefix(b, []byte("OggS")):
		return oggCodec(b)
	case len(b) >= 12 && bytes.HasPrefix(b, []byte("RIFF")) && string(b[8:12]) == "WAVE":
		return "a WAV file (RIFF/WAVE)"
	case bytes.HasPrefix(b, []byte("RIFF")):
		return "a RIFF file (not WAVE)"
	case bytes.HasPrefix(b, []byte("FORM")) && len(b) >= 12 && (string(b[8:12]) == "AIFF" || string(b[8:12]) == "AIFC"):
		return "an AIFF file"
	case bytes.HasPrefix(b, []byte("fLaC")):
		return "a FLAC file"
	case bytes.HasPrefix(b, []byte("ID3")):
		return "an MP3 file (ID3 tag)"
	case len(b) >= 8 && string(b[4:8]) == "ftyp":
		return "an MP4/M4A file"
	case len(b) >= 2 && b[0] == 0xff && b[1]&0xf6 == 0xf0:
		// 12 sync bits and layer 0: AAC's ADTS framing.
		return "an AAC file (ADTS)"
	case len(b) >= 2 && b[0] == 0xff && b[1]&0xe0 == 0xe0 && b[1]&0x06 != 0:
		// 11 sync bits and a layer: an MPEG audio frame without a tag.
		return "an MP3 file (MPEG audio frames)"
	}
	return ""
}

// oggCodec names the codec of an Ogg stream from its first packet, which
// every Ogg mapping starts with a magic; "" for Vorbis, or when the page is
// too short to tell (the decoder then says what is wrong).
func oggCodec(b []byte) string {
	if len(b) < pageHeaderSize {
		return ""
	}
	start := pageHeaderSize + int(b[26])
	if start >= len(b) {
		return ""
	}
	p := b[start:]
	for _, c := range []struct{ magic, name string }{
		{"\x01vorbis", ""},
		{"OpusHead", "an Ogg Opus file"},
		{"\x7fFLAC", "an Ogg FLAC file"},
		{"Speex   ", "an Ogg Speex file"},
		{"\x80theora", "an Ogg Theora (video) file"},
	} {
		if len(p) < len(c.magic) && bytes.HasPrefix([]byte(c.magic), p) {
			return "" // too short to tell
		}
		if bytes.HasPrefix(p, []byte(c.magic)) {
			return c.name
		}
	}
	return "an Ogg file of a codec other than Vorbis"
}

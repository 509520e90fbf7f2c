// Package decode turns an Ogg Vorbis stream into interleaved float32
// samples with jfreymuth/oggvorbis, with sample-accurate seeking and
// without letting a damaged stream crash or hang the player.
package decode

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/jfreymuth/oggvorbis"
)

// Decoder decodes one Ogg Vorbis stream. It is not safe for concurrent use.
type Decoder struct {
	r        *oggvorbis.Reader
	rate, ch int
	pos      int64 // frames
	length   int64 // frames
	err      error // sticky: after a failure the decoder state is unknown
}

// maxPageSize bounds an Ogg page: header, 255 lacing values, 255*255 bytes.
const maxPageSize = 27 + 255 + 255*255

// Open reads the Vorbis headers of the stream in src (size bytes) and checks
// that the stream is complete, so a truncated file fails before it plays.
func Open(src io.ReaderAt, size int64) (d *Decoder, err error) {
	defer recoverTo(&err, "open vorbis stream")
	if err := checkComplete(src, size); err != nil {
		return nil, err
	}
	r, err := oggvorbis.NewReader(newReadSeeker(src, size, 32<<10, 512<<10))
	if err != nil {
		return nil, fmt.Errorf("open vorbis stream: %w", err)
	}
	d = &Decoder{r: r, rate: r.SampleRate(), ch: r.Channels(), length: r.Length()}
	if d.ch != 1 && d.ch != 2 {
		return nil, fmt.Errorf("open vorbis stream: %d channels (only mono and stereo are supported)", d.ch)
	}
	if d.rate < 8000 || d.rate > 192000 {
		return nil, fmt.Errorf("open vorbis stream: sample rate %d Hz out of range", d.rate)
	}
	if d.length <= 0 {
		return nil, errors.New("open vorbis stream: unknown or zero length")
	}
	return d, nil
}

// checkComplete looks for the last Ogg page and requires the end-of-stream
// flag on it and no bytes after it: a file cut at a page boundary would
// otherwise play as a shorter track without any error.
func checkComplete(src io.ReaderAt, size int64) error {
	tail := int64(maxPageSize)
	if tail > size {
		tail = size
	}
	b := make([]byte, tail)
	if n, err := src.ReadAt(b, size-tail); int64(n) < tail {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read end of vorbis stream: %w", err)
	}
	for i := len(b) - 27; i >= 0; i-- {
		i = bytes.LastIndex(b[:i+4], []byte("OggS"))
		if i < 0 {
			break
		}
		if i+27 > len(b) {
			continue
		}
		segs := int(b[i+26])
		if i+27+segs > len(b) {
			continue
		}
		body := 0
		for _, s := range b[i+27 : i+27+segs] {
			body += int(s)
		}
		end := i + 27 + segs + body
		if end != len(b) {
			continue // "OggS" inside packet data, or not the last page
		}
		if b[i+5]&4 == 0 {
			return errors.New("vorbis stream truncated: last Ogg page lacks the end-of-stream flag")
		}
		return nil
	}
	return errors.New("vorbis stream truncated or damaged: no complete Ogg page at its end")
}

// recoverTo turns a panic inside the third-party decoder (it indexes
// slices with values read from the file) into an error.
func recoverTo(err *error, op string) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%s: damaged stream: %v", op, p)
	}
}

// Rate is the sample rate in Hz.
func (d *Decoder) Rate() int { return d.rate }

// Channels is 1 or 2.
func (d *Decoder) Channels() int { return d.ch }

// Length is the number of frames in the stream.
func (d *Decoder) Length() int64 { return d.length }

// Position is the index of the next frame Read returns.
func (d *Decoder) Position() int64 { return d.pos }

// Read decodes into p (interleaved; a whole number of frames) and returns the
// number of samples. At the end it returns io.EOF; any other error means the
// stream is damaged, and every later call returns it again.
func (d *Decoder) Read(p []float32) (n int, err error) {
	if d.err != nil {
		return 0, d.err
	}
	defer func() {
		if p := recover(); p != nil {
			n, err = 0, fmt.Errorf("decode vorbis at frame %d: damaged stream: %v", d.pos, p)
		}
		if err != nil && err != io.EOF {
			d.err = err
		}
	}()
	n, err = d.r.Read(p)
	d.pos += int64(n / d.ch)
	if err == io.EOF && d.pos < d.length {
		// The last page says there is more audio than we decoded.
		return n, fmt.Errorf("decode vorbis: stream ended at frame %d of %d", d.pos, d.length)
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("decode vorbis at frame %d: %w", d.pos, err)
	}
	return n, err
}

// SeekFrame positions the decoder so that the next Read starts at frame f
// exactly (clamped to the stream).
func (d *Decoder) SeekFrame(f int64) (err error) {
	if d.err != nil {
		return d.err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("seek vorbis to frame %d: damaged stream: %v", f, p)
		}
		if err != nil {
			d.err = err
		}
	}()
	f = max(0, min(f, d.length))
	if err := d.r.SetPosition(f); err != nil {
		return fmt.Errorf("seek vorbis to frame %d: %w", f, err)
	}
	d.pos = f
	return nil
}

// SeekMs seeks to a position in milliseconds (rounded down to a frame).
func (d *Decoder) SeekMs(ms int64) error {
	return d.SeekFrame(ms * int64(d.rate) / 1000)
}

// FramesToMs converts a frame count at rate to milliseconds.
func FramesToMs(frames int64, rate int) int64 { return frames * 1000 / int64(rate) }

// Package decode turns an Ogg Vorbis stream into interleaved float32
// samples: our own Ogg layer (ogg.go) hands the packets to
// jfreymuth/vorbis's decoder, with sample-accurate seeking and without
// letting a damaged stream crash or hang the player.
package decode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/jfreymuth/vorbis"
)

// Decoder decodes one Ogg Vorbis stream. It is not safe for concurrent use.
//
// Frames are numbered by granule position: frame f is the one the Ogg
// granule positions call f, so seeking is sample-accurate.
type Decoder struct {
	rs       *readSeeker
	pr       packetReader
	vd       vorbis.Decoder
	rate, ch int
	length   int64 // frames: the granule position of the last page
	first    int64 // the first frame (0 unless the stream starts later)
	pos      int64 // frames: the next frame Read returns
	err      error // sticky: after a failure the decoder state is unknown

	dataStart int64     // file offset of the first audio page
	initial   int64     // frame number of the first decoded frame (negative: leading frames to drop)
	buf       []float32 // one packet's output, for a Read too short to take it
	pend      []float32 // decoded, not yet returned (in buf)
	next      int64     // frame number of the next frame the decoder produces
	primed    bool      // false: decoding a restart page, next not yet known
	skipTo    int64     // frames before this are decoded but not returned
	eos       bool      // the last packet is decoded

	index SeekIndex // nil: seeks walk the pages from the start
	probe []byte    // page body scratch for the indexed seek's page search
	span  int64     // the indexed seek's walk span; 0: walkSpan (tests make it small)
}

// maxPageSize bounds an Ogg page: header, 255 lacing values, 255*255 bytes.
const maxPageSize = 27 + 255 + 255*255

// Open reads the Vorbis headers of the stream in src (size bytes) and checks
// that the stream is complete, so a truncated file fails before it plays.
func Open(src io.ReaderAt, size int64) (d *Decoder, err error) {
	defer recoverTo(&err, "open vorbis stream")
	// What the file is, before whether it is whole: a WAV file is not a
	// damaged Ogg one.
	if err := Sniff(io.NewSectionReader(src, 0, size)); err != nil {
		return nil, err
	}
	length, err := checkComplete(src, size)
	if err != nil {
		return nil, err
	}
	var first [pageHeaderSize]byte
	if n, err := src.ReadAt(first[:], 0); n < len(first) {
		return nil, fmt.Errorf("open vorbis stream: read first page: %w", noEOF(err))
	}
	d = &Decoder{rs: newReadSeeker(src, size, 32<<10, 512<<10), length: length}
	d.pr.r = d.rs
	d.pr.serial = binary.LittleEndian.Uint32(first[14:])
	d.pr.reset()
	for i := 0; i < 3; i++ {
		pkt, _, err := d.pr.next()
		if err != nil {
			return nil, fmt.Errorf("open vorbis stream: header %d: %w", i+1, err)
		}
		if err := d.vd.ReadHeader(pkt); err != nil {
			return nil, fmt.Errorf("open vorbis stream: header %d: %w", i+1, err)
		}
	}
	// The Vorbis spec has the setup header end its page, and audio start
	// on a fresh one: that page is where decoding restarts from the top.
	if d.pr.seg != d.pr.page.nseg {
		return nil, errors.New("open vorbis stream: audio data shares a page with the setup header")
	}
	d.dataStart = d.rs.pos
	d.rate, d.ch = d.vd.SampleRate(), d.vd.Channels()
	if d.ch != 1 && d.ch != 2 {
		return nil, fmt.Errorf("open vorbis stream: %d channels (only mono and stereo are supported)", d.ch)
	}
	if d.rate < 8000 || d.rate > 192000 {
		return nil, fmt.Errorf("open vorbis stream: sample rate %d Hz out of range", d.rate)
	}
	if d.length <= 0 {
		return nil, errors.New("open vorbis stream: unknown or zero length")
	}
	d.buf = make([]float32, d.vd.BufferSize())
	if d.initial, err = d.probeStart(); err != nil {
		return nil, fmt.Errorf("open vorbis stream: %w", err)
	}
	d.first = max(0, d.initial)
	d.pos = d.first
	if d.first >= d.length {
		return nil, errors.New("open vorbis stream: no audio before the end position")
	}
	d.restartTop(d.first)
	return d, nil
}

// probeStart decodes the first audio page to learn the number of its first
// frame: the page's granule position minus the frames it decodes to. A
// negative result means leading frames that are not to be played (the
// encoder's priming), a positive one a stream that starts later.
// The reader is left anywhere: the caller restarts.
func (d *Decoder) probeStart() (int64, error) {
	d.restartTop(0)
	var frames int64
	for {
		pkt, ends, err := d.pr.next()
		if err != nil {
			return 0, fmt.Errorf("first audio page: %w", err)
		}
		out, err := d.vd.DecodeInto(pkt, d.buf)
		if err != nil {
			return 0, fmt.Errorf("first audio page: %w", err)
		}
		frames += int64(len(out) / d.ch)
		if ends && d.pr.page.granule >= 0 {
			if d.pr.page.flags&flagEOS != 0 {
				// The only audio page: fewer frames than decoded are
				// cut at the end (as libvorbis does), not at the start.
				return 0, nil
			}
			return d.pr.page.granule - frames, nil
		}
	}
}

// restartTop makes decoding start over at the first audio packet,
// returning frames from frame skipTo on.
func (d *Decoder) restartTop(skipTo int64) {
	d.restartAt(d.dataStart)
	d.primed, d.next = true, d.initial
	d.skipTo = skipTo
}

// restartAt makes decoding start at the page at off with a fresh decoder:
// the first packet decoded only primes the decoder's overlap.
func (d *Decoder) restartAt(off int64) {
	d.rs.Seek(off, io.SeekStart)
	d.pr.reset()
	d.vd.Clear()
	d.pend = nil
	d.eos = false
}

// checkComplete looks for the last Ogg page and requires the end-of-stream
// flag on it and no bytes after it: a file cut at a page boundary would
// otherwise play as a shorter track without any error.
func checkComplete(src io.ReaderAt, size int64) (granule int64, err error) {
	tail := int64(maxPageSize)
	if tail > size {
		tail = size
	}
	b := make([]byte, tail)
	if n, err := src.ReadAt(b, size-tail); int64(n) < tail {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, fmt.Errorf("read end of vorbis stream: %w", err)
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
			return 0, errors.New("vorbis stream truncated: last Ogg page lacks the end-of-stream flag")
		}
		return int64(binary.LittleEndian.Uint64(b[i+6:])), nil
	}
	return 0, errors.New("vorbis stream truncated or damaged: no complete Ogg page at its end")
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
//
// Samples are as the decoder computes them, not clipped to -1..1: the
// output stage clips after the gain, so a quieter volume keeps the peaks
// of a loud master intact.
func (d *Decoder) Read(p []float32) (n int, err error) {
	if d.err != nil {
		return 0, d.err
	}
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("decode vorbis at frame %d: damaged stream: %v", d.pos, r)
		}
		if err != nil && err != io.EOF {
			d.err = err
		}
	}()
	p = p[:len(p)/d.ch*d.ch]
	bufSize := len(d.buf)
	for n < len(p) {
		if len(d.pend) > 0 {
			c := copy(p[n:], d.pend)
			d.pend = d.pend[c:]
			n += c
			continue
		}
		if d.eos || (n > 0 && len(p)-n < bufSize) {
			break
		}
		// Decode straight into p when a whole packet fits, else into buf.
		into := p[n:]
		direct := len(into) >= bufSize
		if !direct {
			into = d.buf
		}
		got, err := d.decodePacket(into)
		if err != nil {
			d.pos += int64(n / d.ch)
			return n, err
		}
		if direct {
			n += len(got)
		} else {
			d.pend = got
		}
	}
	d.pos += int64(n / d.ch)
	if n == 0 && d.eos {
		if d.pos < d.length {
			// The last page says there is more audio than we decoded.
			return 0, fmt.Errorf("decode vorbis: stream ended at frame %d of %d", d.pos, d.length)
		}
		return 0, io.EOF
	}
	return n, nil
}

// decodePacket decodes the next packet into out (at least BufferSize
// samples) and returns the samples to play, which start at out[0]: frames
// before skipTo, before the stream's first frame or past its end are cut.
func (d *Decoder) decodePacket(out []float32) ([]float32, error) {
	pkt, ends, err := d.pr.next()
	if err == io.EOF {
		d.eos = true // an end-of-stream page before the last page's position: Read reports it
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("decode vorbis at frame %d: %w", d.pos, err)
	}
	got, err := d.vd.DecodeInto(pkt, out)
	if err != nil {
		return nil, fmt.Errorf("decode vorbis at frame %d: %w", d.pos, err)
	}
	if ends && d.pr.page.flags&flagEOS != 0 {
		d.eos = true
	}
	if !d.primed {
		// Restarting at a page: what it decodes to is overlap priming
		// and frames of unknown number, until its last packet, whose
		// end is the page's granule position.
		if ends && d.pr.page.granule >= 0 {
			d.primed, d.next = true, d.pr.page.granule
		}
		return nil, nil
	}
	frames := int64(len(got) / d.ch)
	start := d.next
	d.next += frames
	// Cut to [max(skipTo, first), length).
	lo := max(d.skipTo, d.first) - start
	hi := min(frames, d.length-start)
	if lo >= hi {
		return nil, nil
	}
	if lo > 0 {
		copy(got, got[lo*int64(d.ch):hi*int64(d.ch)])
	}
	return got[:(hi-max(lo, 0))*int64(d.ch)], nil
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
	f = max(d.first, min(f, d.length))
	d.pos = f
	if f == d.length {
		d.pend, d.eos = nil, true
		return nil
	}
	off, ok, err := d.findPage(f)
	if err != nil {
		return fmt.Errorf("seek vorbis to frame %d: %w", f, err)
	}
	if !ok {
		d.restartTop(f)
		return nil
	}
	d.restartAt(off)
	d.primed, d.skipTo = false, f
	return nil
}

// findPage returns the offset of the last page that ends at or before
// frame f and on which a packet starts, so decoding can restart there; ok
// is false when f lies before any such page. With a seek index it reads
// near f; without one it walks the page headers from the first audio page,
// as the Ogg format offers no index of its own.
func (d *Decoder) findPage(f int64) (off int64, ok bool, err error) {
	if d.index != nil {
		return d.findPageIndexed(f)
	}
	w, err := d.walk(d.dataStart, f, -1)
	return w.off, w.ok, err
}

// SeekMs seeks to a position in milliseconds (rounded down to a frame).
func (d *Decoder) SeekMs(ms int64) error {
	return d.SeekFrame(ms * int64(d.rate) / 1000)
}

// FramesToMs converts a frame count at rate to milliseconds.
func FramesToMs(frames int64, rate int) int64 { return frames * 1000 / int64(rate) }

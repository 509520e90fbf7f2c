package decode

import (
	"bytes"
	"errors"
	"io"
)

// SeekIndex says where frames lie in the stream (a Spotify file's seek
// table does), so that a seek in a remote file reads near its target
// instead of every page header before it. It is only a hint: the decoder
// checks the pages it finds there, so a wrong index costs reads, never
// wrong samples.
type SeekIndex interface {
	// Guess returns the byte offset in the stream at which the page
	// holding frame f probably starts, and an offset at or before that
	// page, for a second try.
	Guess(f int64) (likely, before int64)
}

// SetSeekIndex makes later seeks start their search at what idx guesses;
// nil restores the walk from the first audio page.
func (d *Decoder) SetSeekIndex(idx SeekIndex) { d.index = idx }

const (
	// walkSpan bounds the forward walk over page headers from a probe
	// before the search probes again nearer the target: twice the
	// readSeeker's first block, so a good guess costs one or two reads.
	walkSpan = 64 << 10
	// guessMargin moves the first probe this far before the index's
	// guess: landing a little early costs page headers in a block already
	// read; landing late costs a read elsewhere.
	guessMargin = 16 << 10
	// maxProbes bounds the search before it falls back to walking from
	// the last page it knows to be early.
	maxProbes = 8
	// scanBlock is how much the page search examines per read for a
	// capture pattern.
	scanBlock = 4 << 10
)

// walked is what walk found.
type walked struct {
	off  int64 // the last page that ends at or before f and starts a packet
	ok   bool  // off is set
	done bool  // reached a page past f or the end of the stream
	next int64 // where the walk stopped, when not done: a page boundary
	g    int64 // granule position of the last page walked (-1 if none)
}

// walk reads page headers from the page at at on until a page that ends
// past frame f, the end of the stream or, when span >= 0, more than span
// bytes, and returns the last page that ends at or before f on which a
// packet starts (a place decoding can restart from to reach f).
func (d *Decoder) walk(at, f, span int64) (walked, error) {
	var h pageHead
	w := walked{g: -1}
	start := at
	for {
		if span >= 0 && at-start > span {
			w.next = at
			return w, nil
		}
		if _, err := d.rs.Seek(at, io.SeekStart); err != nil {
			return w, err
		}
		if err := h.readHead(d.rs); err != nil {
			return w, err
		}
		if h.granule > f || h.flags&flagEOS != 0 {
			w.done = true
			return w, nil
		}
		if h.granule >= 0 {
			w.g = h.granule
			if h.startsPacket() {
				w.off, w.ok = at, true
			}
		}
		at += int64(pageHeaderSize + h.nseg + h.body)
	}
}

// findPageIndexed answers findPage from the index's guess: it probes the
// stream there for a page, walks forward from a page that is early, and
// narrows the range by interpolation when a guess proves wrong, in the
// manner of a bisection seek whose first steps the index makes.
func (d *Decoder) findPageIndexed(f int64) (off int64, ok bool, err error) {
	// The restart page lies in [lo, hi): lo is a page boundary at or
	// before it (frame loG), hi the start of a page past f (frame hiG).
	lo, loG := d.dataStart, d.initial
	hi, hiG := d.rs.size, d.length
	span := int64(walkSpan)
	if d.span > 0 {
		span = d.span
	}
	var best walked // the latest restart page found so far
	likely, before := d.index.Guess(f)
	lateOnce := false
	for probe := 0; probe < maxProbes && hi-lo > span; probe++ {
		var o int64
		switch {
		case probe == 0:
			o = max(before, likely-guessMargin)
		case probe == 1 && lateOnce:
			o = before
		default:
			// Where f lies if the bitrate between lo and hi is even,
			// a little early so the walk from there covers it.
			o = lo + int64(float64(hi-lo)*float64(f-loG)/float64(max(1, hiG-loG))) - span/4
		}
		o = max(lo, min(o, hi-1))
		at, g, found, err := d.syncPage(o, hi)
		if err != nil {
			return 0, false, err
		}
		if !found || g > f {
			// Late: the restart page lies before o (no page starts
			// in [o, hi)) or before the page found.
			if found {
				hi, hiG = at, g
			} else {
				hi = o
			}
			lateOnce = true
			continue
		}
		w, err := d.walk(at, f, span)
		if err != nil {
			return 0, false, err
		}
		if w.ok {
			best = w
		}
		if w.done {
			if best.ok {
				return best.off, true, nil
			}
			break
		}
		lo = w.next
		if w.g >= 0 {
			loG = w.g
		}
	}
	w, err := d.walk(lo, f, -1)
	if err != nil {
		return 0, false, err
	}
	if w.ok {
		return w.off, true, nil
	}
	if best.ok {
		return best.off, true, nil
	}
	if lo == d.dataStart {
		return 0, false, nil
	}
	// No restart page between the ones found early and f (a packet
	// spanning many pages): walk from the start, as without an index.
	w, err = d.walk(d.dataStart, f, -1)
	return w.off, w.ok, err
}

// syncPage finds the first Ogg page of our stream that starts in [o, limit)
// and returns its offset and granule position. A page counts only with a
// matching checksum and serial number, so bytes of packet data that happen
// to read "OggS" are passed over.
func (d *Decoder) syncPage(o, limit int64) (at, granule int64, found bool, err error) {
	var scan [scanBlock]byte
	for at = o; at < limit; {
		if _, err := d.rs.Seek(at, io.SeekStart); err != nil {
			return 0, 0, false, err
		}
		n, err := io.ReadFull(d.rs, scan[:min(int64(len(scan)), d.rs.size-at)])
		if err != nil {
			return 0, 0, false, noEOF(err)
		}
		i := bytes.Index(scan[:n], []byte("OggS"))
		if i < 0 {
			if n < 4 {
				return 0, 0, false, nil
			}
			at += int64(n - 3) // the pattern may straddle two blocks
			continue
		}
		cand := at + int64(i)
		if cand >= limit {
			return 0, 0, false, nil
		}
		g, ok, err := d.pageAt(cand)
		if err != nil {
			return 0, 0, false, err
		}
		if ok {
			return cand, g, true, nil
		}
		at = cand + 1
	}
	return 0, 0, false, nil
}

// pageAt reports whether a whole, intact page of our stream starts at off,
// and its granule position. A page cut short by the end of the stream is
// not one; a read failure is an error.
func (d *Decoder) pageAt(off int64) (granule int64, ok bool, err error) {
	var h pageHead
	if _, err := d.rs.Seek(off, io.SeekStart); err != nil {
		return 0, false, err
	}
	if err := h.readHead(d.rs); err != nil {
		if errors.Is(err, errNoPage) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, false, nil
		}
		return 0, false, err
	}
	if h.serial != d.pr.serial || off+int64(pageHeaderSize+h.nseg+h.body) > d.rs.size {
		return 0, false, nil
	}
	if d.probe == nil {
		d.probe = make([]byte, 255*255)
	}
	body := d.probe[:h.body]
	if _, err := io.ReadFull(d.rs, body); err != nil {
		return 0, false, noEOF(err)
	}
	return h.granule, h.checksumOK(body), nil
}

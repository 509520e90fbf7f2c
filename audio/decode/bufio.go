package decode

import (
	"errors"
	"fmt"
	"io"
)

// readSeeker turns a ReaderAt (a remote or encrypted file) into the
// io.ReadSeeker the Ogg reader wants, reading in large blocks: the Ogg
// reader asks for a few bytes at a time, and every ReadAt may be a network
// round trip or a decryption call. While reading goes forward (playing, or
// the library's seek, which walks the page headers from the start) the
// blocks double up to maxBuf, so a remote file is fetched in few requests;
// a jump elsewhere starts again with a small block.
type readSeeker struct {
	src    io.ReaderAt
	size   int64
	pos    int64 // logical position
	buf    []byte
	bufAt  int64 // file offset of buf[0]
	n      int   // valid bytes in buf
	block  int   // size of the next fill
	minBuf int
	maxBuf int
}

func newReadSeeker(src io.ReaderAt, size int64, minBuf, maxBuf int) *readSeeker {
	return &readSeeker{src: src, size: size, buf: make([]byte, minBuf), block: minBuf, minBuf: minBuf, maxBuf: maxBuf}
}

func (r *readSeeker) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.pos < r.bufAt || r.pos >= r.bufAt+int64(r.n) {
		end := r.bufAt + int64(r.n)
		if r.n > 0 && r.pos >= end && r.pos-end < int64(r.block) {
			r.block = min(2*r.block, r.maxBuf)
		} else {
			r.block = r.minBuf
		}
		if len(r.buf) < r.block {
			r.buf = make([]byte, r.block)
		}
		r.bufAt = r.pos
		want := r.buf[:r.block]
		if rest := r.size - r.pos; int64(len(want)) > rest {
			want = want[:rest]
		}
		n, err := r.src.ReadAt(want, r.pos)
		r.n = n
		if n == 0 {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
	}
	c := copy(p, r.buf[r.pos-r.bufAt:r.n])
	r.pos += int64(c)
	return c, nil
}

func (r *readSeeker) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += r.pos
	case io.SeekEnd:
		off += r.size
	default:
		return r.pos, errors.New("seek: bad whence")
	}
	if off < 0 {
		return r.pos, fmt.Errorf("seek to negative offset %d", off)
	}
	r.pos = off
	return off, nil
}

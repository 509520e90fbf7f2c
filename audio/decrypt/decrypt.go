// Package decrypt undoes the AES-128-CTR encryption of Spotify audio files.
// The counter is derived from the byte offset, so any range can be read
// without reading what comes before it.
package decrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"io"
)

// iv is the fixed initial counter block Spotify uses for every audio file
// (a protocol constant; the per-file secret is the key).
var iv = [16]byte{0x72, 0xe0, 0x67, 0xfb, 0xdd, 0xcb, 0xcf, 0x77, 0xeb, 0xe8, 0xbc, 0x64, 0x3f, 0x63, 0x0d, 0x93}

// KeySize is the length of an audio key.
const KeySize = 16

// ReaderAt decrypts src on the fly. It is safe for concurrent use: every
// ReadAt works on its own stack-local key stream block.
type ReaderAt struct {
	src   io.ReaderAt
	block cipher.Block
	ivHi  uint64
	ivLo  uint64
}

// NewReaderAt returns a ReaderAt that yields the plaintext of src.
func NewReaderAt(src io.ReaderAt, key []byte) (*ReaderAt, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("audio key: want %d bytes, got %d", KeySize, len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("audio key: %w", err)
	}
	return &ReaderAt{
		src:   src,
		block: b,
		ivHi:  binary.BigEndian.Uint64(iv[:8]),
		ivLo:  binary.BigEndian.Uint64(iv[8:]),
	}, nil
}

// ReadAt reads len(p) bytes of plaintext starting at off.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("decrypt: negative offset %d", off)
	}
	n, err := r.src.ReadAt(p, off)
	r.xorKeyStream(p[:n], off)
	return n, err
}

// xorKeyStream XORs p, which holds ciphertext from offset off, with the key
// stream. The counter of block i is the IV plus i as a 128-bit big-endian
// integer.
func (r *ReaderAt) xorKeyStream(p []byte, off int64) {
	var ctr, ks [16]byte
	blk := uint64(off / 16)
	skip := int(off % 16)
	for len(p) > 0 {
		r.counter(&ctr, blk)
		r.block.Encrypt(ks[:], ctr[:])
		n := subtle(p, ks[skip:])
		p = p[n:]
		skip = 0
		blk++
	}
}

// counter writes IV + blk (128-bit big-endian addition) into ctr.
func (r *ReaderAt) counter(ctr *[16]byte, blk uint64) {
	lo := r.ivLo + blk
	hi := r.ivHi
	if lo < r.ivLo {
		hi++
	}
	binary.BigEndian.PutUint64(ctr[:8], hi)
	binary.BigEndian.PutUint64(ctr[8:], lo)
}

// subtle XORs b into p in place, as far as the shorter goes.
func subtle(p, b []byte) int {
	n := min(len(p), len(b))
	for i := 0; i < n; i++ {
		p[i] ^= b[i]
	}
	return n
}

// Encrypt is the inverse of decryption (CTR is symmetric); it writes the
// ciphertext of plain at offset 0 into a new slice. Tests and test-data
// generators use it.
func Encrypt(plain, key []byte) ([]byte, error) {
	r, err := NewReaderAt(nil, key)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), plain...)
	r.xorKeyStream(out, 0)
	return out, nil
}

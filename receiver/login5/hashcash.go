package login5

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// MaxHashcashBits is the longest hashcash challenge we try to solve. The
// expected work doubles per bit: 32 bits is already minutes on a Pi Zero,
// while the challenges Spotify sends are around 10 bits.
const MaxHashcashBits = 32

// SolveHashcash finds the 16-byte suffix for a login5 hashcash challenge:
// SHA-1(prefix ‖ suffix) must end in zeroBits zero bits. The search starts
// with the last 8 bytes of SHA-1(loginContext) in the first half and zero
// in the second, and counts both halves up together, as Spotify's clients
// do. Each candidate is hashed from scratch (go-librespot v0.7.4 kept
// writing into one hasher, so its answers were wrong for any length > 0).
// It gives up when ctx ends.
func SolveHashcash(ctx context.Context, loginContext, prefix []byte, zeroBits int) ([]byte, error) {
	if zeroBits < 0 || zeroBits > MaxHashcashBits {
		return nil, fmt.Errorf("hashcash challenge of %d bits: we solve 0 to %d", zeroBits, MaxHashcashBits)
	}
	ctxSum := sha1.Sum(loginContext)
	buf := make([]byte, len(prefix)+16)
	copy(buf, prefix)
	suffix := buf[len(prefix):]
	hi := binary.BigEndian.Uint64(ctxSum[12:20])
	var lo uint64
	for i := uint64(0); ; i++ {
		binary.BigEndian.PutUint64(suffix[:8], hi)
		binary.BigEndian.PutUint64(suffix[8:], lo)
		sum := sha1.Sum(buf)
		if trailingZeroBits(sum[:]) >= zeroBits {
			return append([]byte(nil), suffix...), nil
		}
		hi++
		lo++
		if i&0x3fff == 0x3fff {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("hashcash challenge of %d bits: %w", zeroBits, err)
			}
		}
	}
}

// trailingZeroBits counts the zero bits at the end of b read as one
// big-endian number.
func trailingZeroBits(b []byte) int {
	n := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0 {
			return n + bits.TrailingZeros8(b[i])
		}
		n += 8
	}
	return n
}

package login5

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"testing"
)

func TestSolveHashcash(t *testing.T) {
	lc := []byte("login context")
	prefix := []byte("0123456789abcdef")
	for _, n := range []int{0, 1, 8, 10, 14, 16} {
		suffix, err := SolveHashcash(context.Background(), lc, prefix, n)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha1.Sum(append(append([]byte(nil), prefix...), suffix...))
		if z := trailingZeroBits(sum[:]); z < n {
			t.Errorf("%d bits: the hash ends in %d zero bits", n, z)
		}
		ctxSum := sha1.Sum(lc)
		if binary.BigEndian.Uint64(suffix[:8])-binary.BigEndian.Uint64(suffix[8:]) != binary.BigEndian.Uint64(ctxSum[12:20]) {
			t.Errorf("%d bits: suffix %x not derived from the login context", n, suffix)
		}
	}
}

func TestTrailingZeroBits(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want int
	}{
		{[]byte{0x01}, 0}, {[]byte{0x80}, 7}, {[]byte{0x00}, 8}, {[]byte{0x10, 0x00}, 12},
		{[]byte{0x00, 0x00}, 16}, {[]byte{0x00, 0x04}, 2}, {nil, 0},
	} {
		if got := trailingZeroBits(tc.b); got != tc.want {
			t.Errorf("%x: %d, want %d", tc.b, got, tc.want)
		}
	}
}

func TestSolveHashcashLimits(t *testing.T) {
	if _, err := SolveHashcash(context.Background(), nil, nil, MaxHashcashBits+1); err == nil {
		t.Error("accepted a challenge beyond MaxHashcashBits")
	}
	if _, err := SolveHashcash(context.Background(), nil, nil, -1); err == nil {
		t.Error("accepted a negative length")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SolveHashcash(ctx, []byte("x"), []byte("y"), MaxHashcashBits); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled solve: %v", err)
	}
}

// The reference is one SHA-1 of the same input per op, so the ratio is the
// number of hashes a 10-bit solve takes (about 2^10 on average).
func BenchmarkSolveHashcash10(b *testing.B) {
	prefix := []byte("0123456789abcdef")
	lc := make([]byte, 16)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint64(lc, uint64(i)) // a new challenge each op
		if _, err := SolveHashcash(context.Background(), lc, prefix, 10); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSHA1Reference(b *testing.B) {
	buf := make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		sum := sha1.Sum(buf)
		buf[0] = sum[0]
	}
}

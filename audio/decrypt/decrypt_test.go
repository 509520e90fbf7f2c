package decrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"io"
	"math/big"
	"math/rand"
	"testing"
)

// The reference is the standard library's CTR mode from the start of the
// stream, which our offset-derived counter must match at every offset.
func TestMatchesStdlibCTRAtEveryOffset(t *testing.T) {
	key := []byte("0123456789abcdef")
	plain := make([]byte, 5000)
	rand.New(rand.NewSource(1)).Read(plain)
	b, _ := aes.NewCipher(key)
	want := make([]byte, len(plain))
	cipher.NewCTR(b, iv[:]).XORKeyStream(want, plain)

	got, err := Encrypt(plain, key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("Encrypt differs from crypto/cipher CTR")
	}
	r, _ := NewReaderAt(bytes.NewReader(want), key)
	for _, c := range []struct{ off, n int }{{0, 1}, {1, 15}, {15, 2}, {16, 16}, {17, 100}, {4095, 905}, {4999, 1}, {33, 4000}} {
		buf := make([]byte, c.n)
		n, err := r.ReadAt(buf, int64(c.off))
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], plain[c.off:c.off+n]) {
			t.Fatalf("offset %d len %d: wrong plaintext", c.off, c.n)
		}
	}
}

func TestCounterIs128BitAddition(t *testing.T) {
	r, _ := NewReaderAt(nil, make([]byte, 16))
	base := new(big.Int).SetBytes(iv[:])
	mod := new(big.Int).Lsh(big.NewInt(1), 128)
	for _, blk := range []uint64{0, 1, 255, ^r.ivLo, ^r.ivLo + 1, ^r.ivLo + 2, 1 << 40} {
		var ctr [16]byte
		r.counter(&ctr, blk)
		want := new(big.Int).Add(base, new(big.Int).SetUint64(blk))
		want.Mod(want, mod)
		var wb [16]byte
		want.FillBytes(wb[:])
		if ctr != wb {
			t.Fatalf("block %d: counter %x, want %x", blk, ctr, wb)
		}
	}
}

func TestBadKey(t *testing.T) {
	if _, err := NewReaderAt(nil, []byte("short")); err == nil {
		t.Fatal("want error for 5-byte key")
	}
}

func TestShortSourceReturnsDecryptedPrefixAndEOF(t *testing.T) {
	key := []byte("0123456789abcdef")
	plain := []byte("hello, spotify audio file")
	ct, _ := Encrypt(plain, key)
	r, _ := NewReaderAt(bytes.NewReader(ct), key)
	buf := make([]byte, 100)
	n, err := r.ReadAt(buf, 3)
	if err != io.EOF || string(buf[:n]) != string(plain[3:]) {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
}

func BenchmarkDecrypt(b *testing.B) {
	r, _ := NewReaderAt(bytes.NewReader(make([]byte, 64<<10)), []byte("0123456789abcdef"))
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		r.ReadAt(buf, 0)
	}
}

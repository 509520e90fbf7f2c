// Package blob decrypts what a phone sends in a ZeroConf addUser request.
//
// Two layers, as Spotify's ZeroConf API and librespot define them:
//
//   - The outer blob is bound to this session's Diffie-Hellman exchange:
//     iv(16) || AES-128-CTR ciphertext || HMAC-SHA1(20). The keys come from
//     sha1(shared secret)[:16]: HMAC-SHA1(base, "checksum") keys the MAC,
//     HMAC-SHA1(base, "encryption")[:16] keys the cipher. The plaintext is
//     the base64 text of the inner blob.
//   - The inner blob is bound to the device id and the username: the key is
//     sha1(PBKDF2-HMAC-SHA1(sha1(device id), username, 256 iterations, 20
//     bytes)) followed by the big-endian uint32 20, an AES-192 key. The blob
//     is AES-192-ECB encrypted after each byte from offset 16 on was XORed
//     with the byte 16 before it (chained). The plaintext is three tagged
//     fields: tag, varint length, username; tag, varint auth type; tag,
//     varint length, auth data.
//
// Every length is checked before slicing; no input panics (see the fuzz tests).
package blob

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/speakerbox/speakerbox/internal/creds"
)

const (
	ivLen  = 16
	macLen = sha1.Size
	// MinOuterLen is the shortest outer blob that can carry an inner blob:
	// the IV, the MAC and at least one ciphertext byte.
	MinOuterLen = ivLen + macLen + 1
	// MaxOuterLen bounds the work one request can cause; real blobs are a
	// few hundred bytes.
	MaxOuterLen = 16 << 10
	// pbkdf2Iterations and the key layout are fixed by the protocol.
	pbkdf2Iterations = 256
)

// ErrChecksum means the outer blob's HMAC did not match: the phone used a
// different Diffie-Hellman key (a stale publicKey) or the blob was altered.
var ErrChecksum = errors.New("outer blob checksum mismatch")

// DecryptOuter checks the MAC of the outer blob with keys derived from the
// Diffie-Hellman shared secret and returns its plaintext (the base64 text of
// the inner blob). The MAC is compared in constant time.
func DecryptOuter(sharedSecret, outer []byte) ([]byte, error) {
	if len(outer) < MinOuterLen {
		return nil, fmt.Errorf("outer blob of %d bytes is shorter than %d", len(outer), MinOuterLen)
	}
	if len(outer) > MaxOuterLen {
		return nil, fmt.Errorf("outer blob of %d bytes is longer than %d", len(outer), MaxOuterLen)
	}
	iv := outer[:ivLen]
	body := outer[ivLen : len(outer)-macLen]
	sum := outer[len(outer)-macLen:]

	macKey, encKey := outerKeys(sharedSecret)
	m := hmac.New(sha1.New, macKey)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), sum) {
		return nil, ErrChecksum
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("outer blob cipher: %w", err)
	}
	plain := make([]byte, len(body))
	cipher.NewCTR(block, iv).XORKeyStream(plain, body)
	return plain, nil
}

func outerKeys(sharedSecret []byte) (macKey, encKey []byte) {
	h := sha1.Sum(sharedSecret)
	base := h[:16]
	m := hmac.New(sha1.New, base)
	m.Write([]byte("checksum"))
	macKey = m.Sum(nil)
	m.Reset()
	m.Write([]byte("encryption"))
	encKey = m.Sum(nil)[:16]
	return macKey, encKey
}

// InnerKey derives the AES-192 key of the inner blob from the device id and
// the username.
func InnerKey(deviceID, username string) ([]byte, error) {
	secret := sha1.Sum([]byte(deviceID))
	base, err := pbkdf2.Key(sha1.New, string(secret[:]), []byte(username), pbkdf2Iterations, sha1.Size)
	if err != nil {
		return nil, fmt.Errorf("derive inner blob key: %w", err)
	}
	h := sha1.Sum(base)
	key := make([]byte, 24)
	copy(key, h[:])
	binary.BigEndian.PutUint32(key[20:], 20)
	return key, nil
}

// DecodeInner decrypts the inner blob (base64 text, as DecryptOuter returns
// it) for username on the device with deviceID, and parses its fields.
// The returned credentials carry username (the form's userName, which the
// access point logs in with), not the name inside the blob.
// Credentials of auth type 0 (a password) are refused.
func DecodeInner(deviceID, username string, inner64 []byte) (creds.Credentials, error) {
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(inner64)))
	n, err := base64.StdEncoding.Decode(raw, inner64)
	if err != nil {
		return creds.Credentials{}, fmt.Errorf("inner blob is not base64: %w", err)
	}
	raw = raw[:n]
	if len(raw) == 0 || len(raw)%aes.BlockSize != 0 {
		return creds.Credentials{}, fmt.Errorf("inner blob of %d bytes is not a whole number of %d-byte blocks", len(raw), aes.BlockSize)
	}
	key, err := InnerKey(deviceID, username)
	if err != nil {
		return creds.Credentials{}, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return creds.Credentials{}, fmt.Errorf("inner blob cipher: %w", err)
	}
	for i := 0; i+aes.BlockSize <= len(raw); i += aes.BlockSize {
		block.Decrypt(raw[i:i+aes.BlockSize], raw[i:i+aes.BlockSize])
	}
	// Undo the chaining from the end, so that raw[i-16] is still the
	// chained value when raw[i] is restored.
	for i := len(raw) - 1; i >= aes.BlockSize; i-- {
		raw[i] ^= raw[i-aes.BlockSize]
	}
	return parseInner(username, raw)
}

// parseInner reads: tag, varint length + name; tag, varint auth type; tag,
// varint length + auth data. Tags are not checked (librespot does not either:
// clients differ); padding after the last field is ignored.
func parseInner(username string, p []byte) (creds.Credentials, error) {
	r := reader{b: p}
	r.skip(1)
	nameLen := r.varint()
	r.skip(nameLen)
	r.skip(1)
	authType := r.varint()
	r.skip(1)
	dataLen := r.varint()
	data := r.bytes(dataLen)
	if r.err != nil {
		return creds.Credentials{}, fmt.Errorf("inner blob: %w", r.err)
	}
	if authType > 1<<16 {
		return creds.Credentials{}, fmt.Errorf("inner blob: auth type %d out of range", authType)
	}
	c := creds.Credentials{Username: username, AuthType: creds.AuthType(authType), AuthData: append([]byte(nil), data...)}
	if err := c.Validate(); err != nil {
		return creds.Credentials{}, fmt.Errorf("inner blob: %w", err)
	}
	return c, nil
}

// reader is a bounds-checked cursor: after the first error every call is a
// no-op, so parsing code reads straight through and checks once.
type reader struct {
	b   []byte
	err error
}

func (r *reader) skip(n uint64) { r.bytes(n) }

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("field of %d bytes runs past the end (%d left)", n, len(r.b))
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) varint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Package phonetest plays the phone's half of Spotify's ZeroConf login, for
// tests only: Diffie-Hellman from the device's getInfo publicKey, the inner
// blob (chained AES-192-ECB under a key bound to device id and username) and
// the outer blob (AES-128-CTR plus HMAC-SHA1). It is written independently of
// package blob (big.Int arithmetic, its own key derivation), so a round trip
// through the real HTTP handler checks one implementation against another.
package phonetest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"math/big"
	"net/url"

	"github.com/speakerbox/speakerbox/internal/creds"
)

// Group1Prime is the 768-bit MODP prime of RFC 2409 section 6.1 ("First Oakley
// Group"), generator 2, which Spotify's ZeroConf exchange uses.
var Group1Prime, _ = new(big.Int).SetString(
	"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1"+
		"29024E088A67CC74020BBEA63B139B22514A08798E3404DD"+
		"EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245"+
		"E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF", 16)

// Phone is one phone with a fixed Diffie-Hellman private key.
type Phone struct {
	priv *big.Int
}

// New returns a phone whose private key is the big-endian number in priv.
func New(priv []byte) *Phone { return &Phone{priv: new(big.Int).SetBytes(priv)} }

// PublicKey is 2^priv mod p, big-endian without leading zeros.
func (p *Phone) PublicKey() []byte {
	return new(big.Int).Exp(big.NewInt(2), p.priv, Group1Prime).Bytes()
}

// Shared computes the shared secret with the device's public key.
func (p *Phone) Shared(devicePub []byte) []byte {
	return new(big.Int).Exp(new(big.Int).SetBytes(devicePub), p.priv, Group1Prime).Bytes()
}

// Login is what the phone hands over.
type Login struct {
	Username string
	AuthType creds.AuthType
	AuthData []byte
}

// InnerBlob returns the base64 text of the inner blob for deviceID.
func InnerBlob(deviceID string, l Login) []byte {
	var plain bytes.Buffer
	field := func(tag byte, b []byte) {
		plain.WriteByte(tag)
		plain.Write(binary.AppendUvarint(nil, uint64(len(b))))
		plain.Write(b)
	}
	field('I', []byte(l.Username))
	plain.WriteByte('P')
	plain.Write(binary.AppendUvarint(nil, uint64(l.AuthType)))
	field('Q', l.AuthData)
	for plain.Len()%16 != 0 {
		plain.WriteByte(0)
	}
	b := plain.Bytes()
	for i := 16; i < len(b); i++ {
		b[i] ^= b[i-16]
	}
	blk, err := aes.NewCipher(innerKey(deviceID, l.Username))
	if err != nil {
		panic(err) // 24-byte key: cannot happen
	}
	for off := 0; off < len(b); off += 16 {
		blk.Encrypt(b[off:off+16], b[off:off+16])
	}
	return []byte(base64.StdEncoding.EncodeToString(b))
}

// innerKey is PBKDF2-HMAC-SHA1 written out from RFC 8018 (one 20-byte block).
func innerKey(deviceID, username string) []byte {
	pw := sha1.Sum([]byte(deviceID))
	mac := hmac.New(sha1.New, pw[:])
	u := prf(mac, append([]byte(username), 0, 0, 0, 1))
	t := append([]byte(nil), u...)
	for i := 1; i < 256; i++ {
		u = prf(mac, u)
		for j := range t {
			t[j] ^= u[j]
		}
	}
	h := sha1.Sum(t)
	return append(h[:], 0, 0, 0, 20)
}

func prf(m hash.Hash, in []byte) []byte {
	m.Reset()
	m.Write(in)
	return m.Sum(nil)
}

// OuterBlob encrypts inner64 for the device with public key devicePub, using iv.
func (p *Phone) OuterBlob(devicePub, iv, inner64 []byte) []byte {
	base := sha1.Sum(p.Shared(devicePub))
	checksumKey := prf(hmac.New(sha1.New, base[:16]), []byte("checksum"))
	encKey := prf(hmac.New(sha1.New, base[:16]), []byte("encryption"))[:16]
	blk, err := aes.NewCipher(encKey)
	if err != nil {
		panic(err)
	}
	ct := make([]byte, len(inner64))
	cipher.NewCTR(blk, iv).XORKeyStream(ct, inner64)
	sum := prf(hmac.New(sha1.New, checksumKey), ct)
	out := append(append(append([]byte(nil), iv...), ct...), sum...)
	return out
}

// AddUserForm builds the addUser form fields a phone posts, given the
// device's getInfo deviceID and publicKey (base64).
func (p *Phone) AddUserForm(deviceID, publicKey64 string, iv []byte, l Login) (url.Values, error) {
	devicePub, err := base64.StdEncoding.DecodeString(publicKey64)
	if err != nil {
		return nil, fmt.Errorf("device publicKey: %w", err)
	}
	outer := p.OuterBlob(devicePub, iv, InnerBlob(deviceID, l))
	return url.Values{
		"action":     {"addUser"},
		"userName":   {l.Username},
		"blob":       {base64.StdEncoding.EncodeToString(outer)},
		"clientKey":  {base64.StdEncoding.EncodeToString(p.PublicKey())},
		"deviceName": {"Test Phone"},
		"deviceId":   {"0123456789abcdef0123456789abcdef01234567"},
		"loginId":    {l.Username},
		"tokenType":  {"default"},
		"version":    {"2.7.1"},
	}, nil
}

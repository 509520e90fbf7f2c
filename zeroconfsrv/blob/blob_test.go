package blob

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/zeroconfsrv/phonetest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json")

const testDeviceID = "5d41402abc4b2a76b9719d911017c592aabbccdd"

type golden struct {
	DeviceID   string         `json:"device_id"`
	Username   string         `json:"username"`
	AuthType   creds.AuthType `json:"auth_type"`
	AuthData   string         `json:"auth_data_hex"`
	DevicePriv string         `json:"device_priv_hex"`
	PhonePriv  string         `json:"phone_priv_hex"`
	IV         string         `json:"iv_hex"`
	Inner      string         `json:"inner_blob_base64"`
	Outer      string         `json:"outer_blob_base64"`
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixedGolden builds the vector from fixed keys with the independent phone.
func fixedGolden(t *testing.T) golden {
	g := golden{
		DeviceID:   testDeviceID,
		Username:   "alice.smith",
		AuthType:   creds.AuthStoredSpotify,
		AuthData:   hex.EncodeToString([]byte("reusable-credentials-\x00\x01\x02-of-alice")),
		DevicePriv: strings.Repeat("1f", 95),
		PhonePriv:  strings.Repeat("a5", 95),
		IV:         "000102030405060708090a0b0c0d0e0f",
	}
	dev := phonetest.New(mustHex(t, g.DevicePriv))
	ph := phonetest.New(mustHex(t, g.PhonePriv))
	inner := phonetest.InnerBlob(g.DeviceID, phonetest.Login{Username: g.Username, AuthType: g.AuthType, AuthData: mustHex(t, g.AuthData)})
	g.Inner = string(inner)
	g.Outer = base64.StdEncoding.EncodeToString(ph.OuterBlob(dev.PublicKey(), mustHex(t, g.IV), inner))
	return g
}

// TestGoldenVector pins both sides: the phone must still produce the stored
// bytes, and the decoders must still turn the stored bytes into the login.
func TestGoldenVector(t *testing.T) {
	path := filepath.Join("testdata", "golden.json")
	want := fixedGolden(t)
	if *update {
		b, _ := json.MarshalIndent(want, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if g != want {
		t.Fatalf("the phone side no longer produces the stored vector:\nstored %+v\nnow    %+v", g, want)
	}

	// Device side: shared secret from the device's private key and the
	// phone's public key, as the handler computes it with package dh.
	phonePub := phonetest.New(mustHex(t, g.PhonePriv)).PublicKey()
	shared := new(big.Int).Exp(new(big.Int).SetBytes(phonePub), new(big.Int).SetBytes(mustHex(t, g.DevicePriv)), phonetest.Group1Prime).Bytes()
	outer, _ := base64.StdEncoding.DecodeString(g.Outer)
	inner, err := DecryptOuter(shared, outer)
	if err != nil {
		t.Fatalf("DecryptOuter: %v", err)
	}
	if string(inner) != g.Inner {
		t.Fatalf("outer plaintext = %q, want %q", inner, g.Inner)
	}
	c, err := DecodeInner(g.DeviceID, g.Username, inner)
	if err != nil {
		t.Fatalf("DecodeInner: %v", err)
	}
	if c.Username != g.Username || c.AuthType != g.AuthType || !bytes.Equal(c.AuthData, mustHex(t, g.AuthData)) {
		t.Fatalf("decoded %+v", c)
	}
}

func TestInnerRoundTripAndBindings(t *testing.T) {
	data := bytes.Repeat([]byte{0xAB}, 300) // forces a two-byte varint length
	inner := phonetest.InnerBlob(testDeviceID, phonetest.Login{Username: "bob", AuthType: creds.AuthSpotifyToken, AuthData: data})
	c, err := DecodeInner(testDeviceID, "bob", inner)
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthType != creds.AuthSpotifyToken || !bytes.Equal(c.AuthData, data) {
		t.Fatalf("decoded %+v", c)
	}
	// The key binds device and username: the wrong one must not yield bob's data.
	if c2, err := DecodeInner(strings.Repeat("0", 40), "bob", inner); err == nil && bytes.Equal(c2.AuthData, data) {
		t.Fatal("another device id decoded the same auth data")
	}
	if c3, err := DecodeInner(testDeviceID, "eve", inner); err == nil && bytes.Equal(c3.AuthData, data) {
		t.Fatal("another username decoded the same auth data")
	}
}

func TestInnerRefusesPassword(t *testing.T) {
	inner := phonetest.InnerBlob(testDeviceID, phonetest.Login{Username: "bob", AuthType: creds.AuthUserPass, AuthData: []byte("hunter2")})
	_, err := DecodeInner(testDeviceID, "bob", inner)
	if err == nil || !strings.Contains(err.Error(), "auth_type 0") {
		t.Fatalf("err = %v, want a refusal of auth_type 0", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatal("error message carries the password")
	}
}

func TestInnerMalformed(t *testing.T) {
	for name, in := range map[string]string{
		"empty":                              "",
		"not base64":                         "!!!!",
		"not a block":                        base64.StdEncoding.EncodeToString(make([]byte, 15)),
		"one block of zeros, garbage fields": base64.StdEncoding.EncodeToString(make([]byte, 16)),
	} {
		if _, err := DecodeInner(testDeviceID, "bob", []byte(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestOuterChecks(t *testing.T) {
	ph := phonetest.New([]byte{7, 7, 7})
	dev := phonetest.New([]byte{9, 9, 9})
	inner := phonetest.InnerBlob(testDeviceID, phonetest.Login{Username: "bob", AuthType: 1, AuthData: []byte("x")})
	outer := ph.OuterBlob(dev.PublicKey(), make([]byte, 16), inner)
	shared := dev.Shared(ph.PublicKey())
	if got, err := DecryptOuter(shared, outer); err != nil || !bytes.Equal(got, inner) {
		t.Fatalf("round trip: %v", err)
	}
	for _, n := range []int{0, 1, 15, 16, 35, 36} {
		if _, err := DecryptOuter(shared, outer[:n]); err == nil {
			t.Errorf("%d-byte blob accepted", n)
		}
	}
	for _, i := range []int{0, 16, len(outer) - 1} { // IV, ciphertext, MAC
		bad := bytes.Clone(outer)
		bad[i] ^= 1
		_, err := DecryptOuter(shared, bad)
		if i == 0 {
			// The IV is not covered by the MAC (as in the protocol); the
			// plaintext changes instead, which the inner decoder catches.
			continue
		}
		if !errors.Is(err, ErrChecksum) {
			t.Errorf("flipped byte %d: err = %v, want ErrChecksum", i, err)
		}
	}
	if _, err := DecryptOuter(dev.Shared([]byte{5}), outer); !errors.Is(err, ErrChecksum) {
		t.Errorf("wrong shared secret: err = %v", err)
	}
}

func FuzzDecodeInner(f *testing.F) {
	f.Add("bob", []byte(phonetest.InnerBlob(testDeviceID, phonetest.Login{Username: "bob", AuthType: 1, AuthData: []byte("data")})))
	f.Add("bob", []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))))
	f.Add("", []byte(""))
	f.Add("x", []byte("AAAA"))
	f.Fuzz(func(t *testing.T, user string, in []byte) {
		c, err := DecodeInner(testDeviceID, user, in)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("DecodeInner returned invalid credentials: %v", verr)
			}
		}
	})
}

func FuzzParseInner(f *testing.F) {
	f.Add([]byte("I\x03bobP\x01Q\x04data"))
	f.Add([]byte("I\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		c, err := parseInner("bob", p)
		if err == nil && c.Validate() != nil {
			t.Fatal("parseInner returned invalid credentials")
		}
	})
}

func FuzzDecryptOuter(f *testing.F) {
	ph := phonetest.New([]byte{7, 7, 7})
	dev := phonetest.New([]byte{9, 9, 9})
	f.Add(ph.OuterBlob(dev.PublicKey(), make([]byte, 16), []byte("AAAA")))
	f.Add([]byte{})
	f.Add(make([]byte, 37))
	shared := dev.Shared(ph.PublicKey())
	f.Fuzz(func(t *testing.T, outer []byte) {
		plain, err := DecryptOuter(shared, outer)
		if err == nil && len(plain) != len(outer)-MinOuterLen+1 {
			t.Fatalf("plaintext of %d bytes from a %d-byte blob", len(plain), len(outer))
		}
	})
}

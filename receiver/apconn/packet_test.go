package apconn

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestEncodeKeyRequest(t *testing.T) {
	var fileID [20]byte
	var gid [16]byte
	for i := range fileID {
		fileID[i] = byte(0xa0 + i)
	}
	for i := range gid {
		gid[i] = byte(i)
	}
	got := EncodeKeyRequest(fileID, gid, 0x01020304)
	want, _ := hex.DecodeString("a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3" + "000102030405060708090a0b0c0d0e0f" + "01020304" + "0000")
	if !bytes.Equal(got, want) {
		t.Fatalf("request\n got %x\nwant %x", got, want)
	}
	f, g, s, err := DecodeKeyRequest(got)
	if err != nil || f != fileID || g != gid || s != 0x01020304 {
		t.Fatalf("DecodeKeyRequest = %x %x %x %v", f, g, s, err)
	}
	if _, _, _, err := DecodeKeyRequest(got[:41]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short request: err = %v, want ErrMalformed", err)
	}
}

func TestDecodeKeyAnswer(t *testing.T) {
	key := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	for _, tc := range []struct {
		name    string
		typ     PacketType
		payload []byte
		seq     uint32
		seqOK   bool
		key     [16]byte
		code    int // -1: no refusal
		bad     bool
	}{
		{"key", PacketAesKey, EncodeKeyAnswer(7, key), 7, true, key, -1, false},
		{"key with trailing bytes", PacketAesKey, append(EncodeKeyAnswer(8, key), 0xff), 8, true, key, -1, false},
		{"truncated key is not padded", PacketAesKey, EncodeKeyAnswer(9, key)[:19], 9, true, [16]byte{}, -1, true},
		{"seq only", PacketAesKey, []byte{0, 0, 0, 3}, 3, true, [16]byte{}, -1, true},
		{"no seq", PacketAesKey, []byte{0, 0, 1}, 0, false, [16]byte{}, -1, true},
		{"empty", PacketAesKey, nil, 0, false, [16]byte{}, -1, true},
		{"refused", PacketAesKeyError, EncodeKeyError(0xfffffffe, 0x0001), 0xfffffffe, true, [16]byte{}, 1, false},
		{"refused code 0", PacketAesKeyError, EncodeKeyError(5, 0), 5, true, [16]byte{}, 0, false},
		{"error without code", PacketAesKeyError, []byte{0, 0, 0, 5, 0}, 5, true, [16]byte{}, -1, true},
		{"error without seq", PacketAesKeyError, []byte{0, 0}, 0, false, [16]byte{}, -1, true},
		{"other type", PacketCountryCode, EncodeKeyAnswer(1, key), 0, false, [16]byte{}, -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := DecodeKeyAnswer(tc.typ, tc.payload)
			if a.SeqOK != tc.seqOK || (tc.seqOK && a.Seq != tc.seq) {
				t.Errorf("seq = %d (ok %v), want %d (ok %v)", a.Seq, a.SeqOK, tc.seq, tc.seqOK)
			}
			if a.Key != tc.key {
				t.Errorf("key = %x, want %x", a.Key, tc.key)
			}
			var ref *KeyRefusedError
			switch {
			case tc.bad:
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("err = %v, want ErrMalformed", err)
				}
			case tc.code >= 0:
				if !errors.As(err, &ref) || int(ref.Code) != tc.code {
					t.Errorf("err = %v, want refusal code %d", err, tc.code)
				}
			case err != nil:
				t.Errorf("err = %v", err)
			}
		})
	}
}

// FuzzAudioKeyPacket: no panic on any answer payload, a key only from a
// full-length 0x0d, and requests round-trip.
func FuzzAudioKeyPacket(f *testing.F) {
	f.Add(byte(0x0d), EncodeKeyAnswer(1, [16]byte{1}))
	f.Add(byte(0x0e), EncodeKeyError(2, 3))
	f.Add(byte(0x0d), []byte{0, 0, 0})
	f.Add(byte(0x0e), []byte{0, 0, 0, 1, 2})
	f.Add(byte(0x0c), EncodeKeyRequest([20]byte{9}, [16]byte{8}, 7))
	f.Fuzz(func(t *testing.T, typ byte, p []byte) {
		a, err := DecodeKeyAnswer(PacketType(typ), p)
		if err == nil && (PacketType(typ) != PacketAesKey || len(p) < 20) {
			t.Fatalf("accepted type 0x%02x payload of %d bytes as a key", typ, len(p))
		}
		if a.SeqOK != (len(p) >= 4 && (typ == 0x0d || typ == 0x0e)) {
			t.Fatalf("SeqOK = %v for type 0x%02x, %d bytes", a.SeqOK, typ, len(p))
		}
		if f, g, s, err := DecodeKeyRequest(p); err == nil && !bytes.Equal(EncodeKeyRequest(f, g, s)[:40], p[:40]) {
			t.Fatalf("request does not round-trip: %x", p)
		}
	})
}

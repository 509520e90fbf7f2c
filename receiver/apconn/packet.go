package apconn

import (
	"context"
	"encoding/binary"
	"fmt"
)

// PacketType is the command byte of an access-point packet (the same numbers
// as go-librespot's ap.PacketType).
type PacketType byte

// The packet types this package sends or reads.
const (
	PacketRequestKey  PacketType = 0x0c // client -> AP: audio key request
	PacketAesKey      PacketType = 0x0d // AP -> client: the key
	PacketAesKeyError PacketType = 0x0e // AP -> client: the request was refused
	PacketCountryCode PacketType = 0x1b // AP -> client: account country, 2 letters
	PacketProductInfo PacketType = 0x50 // AP -> client: product info XML
)

// Packet is one packet the access point sent.
type Packet struct {
	Type    PacketType
	Payload []byte
}

// Sender sends one packet to the access point.
type Sender interface {
	Send(ctx context.Context, t PacketType, payload []byte) error
}

// PacketConn is the packet side of an access-point connection: what Serve
// reads and the key provider writes.
type PacketConn interface {
	Sender
	// Receive carries the packets of the types Serve handles; it is closed
	// when the connection is gone for good (and only then: the reader
	// drains it to the end so that the AP's receive loop never blocks).
	Receive() <-chan Packet
	// Done is closed when the connection is lost, possibly before Receive
	// is closed.
	Done() <-chan struct{}
}

const (
	keyRequestLen = 20 + 16 + 4 + 2
	keyAnswerLen  = 4 + 16
	keyErrorLen   = 4 + 2
)

// EncodeKeyRequest builds the payload of an audio-key request (0x0c):
// file_id (20) ‖ gid (16) ‖ seq (u32 BE) ‖ 0x0000.
func EncodeKeyRequest(fileID [20]byte, gid [16]byte, seq uint32) []byte {
	p := make([]byte, 0, keyRequestLen)
	p = append(p, fileID[:]...)
	p = append(p, gid[:]...)
	p = binary.BigEndian.AppendUint32(p, seq)
	return append(p, 0, 0)
}

// DecodeKeyRequest is the inverse of EncodeKeyRequest (the AP's side; used
// by fakes and tests).
func DecodeKeyRequest(p []byte) (fileID [20]byte, gid [16]byte, seq uint32, err error) {
	if len(p) != keyRequestLen {
		return fileID, gid, 0, fmt.Errorf("audio key request of %d bytes, want %d: %w", len(p), keyRequestLen, ErrMalformed)
	}
	copy(fileID[:], p[:20])
	copy(gid[:], p[20:36])
	return fileID, gid, binary.BigEndian.Uint32(p[36:40]), nil
}

// KeyAnswer is a decoded answer to an audio-key request.
type KeyAnswer struct {
	// Seq is the request's sequence number; valid when SeqOK (the payload
	// had at least 4 bytes), even if the rest was malformed, so that the
	// waiting request fails at once instead of timing out.
	Seq   uint32
	SeqOK bool
	Key   [16]byte
}

// DecodeKeyAnswer decodes an AesKey (0x0d: seq ‖ 16-byte key) or AesKeyError
// (0x0e: seq ‖ u16 error code) payload. A refusal is returned as a
// *KeyRefusedError; a payload too short for its type (a truncated key must
// never be padded into a wrong one) or of another type wraps ErrMalformed.
func DecodeKeyAnswer(t PacketType, p []byte) (KeyAnswer, error) {
	var a KeyAnswer
	if len(p) >= 4 {
		a.Seq, a.SeqOK = binary.BigEndian.Uint32(p), true
	}
	switch t {
	case PacketAesKey:
		if len(p) < keyAnswerLen {
			return a, fmt.Errorf("audio key packet of %d bytes, want %d: %w", len(p), keyAnswerLen, ErrMalformed)
		}
		copy(a.Key[:], p[4:20])
		return a, nil
	case PacketAesKeyError:
		if len(p) < keyErrorLen {
			return a, fmt.Errorf("audio key error packet of %d bytes, want %d: %w", len(p), keyErrorLen, ErrMalformed)
		}
		return a, &KeyRefusedError{Code: binary.BigEndian.Uint16(p[4:6])}
	}
	a.SeqOK = false
	return a, fmt.Errorf("packet type 0x%02x is not an audio key answer: %w", byte(t), ErrMalformed)
}

// EncodeKeyAnswer builds an AesKey (0x0d) payload (the AP's side).
func EncodeKeyAnswer(seq uint32, key [16]byte) []byte {
	return append(binary.BigEndian.AppendUint32(make([]byte, 0, keyAnswerLen), seq), key[:]...)
}

// EncodeKeyError builds an AesKeyError (0x0e) payload (the AP's side).
func EncodeKeyError(seq uint32, code uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint32(make([]byte, 0, keyErrorLen), seq), code)
}

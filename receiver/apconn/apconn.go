// Package apconn is the seam between the speaker and Spotify's access point
// (AP): the login, what the AP pushes after it (country code, product info),
// audio keys and the "connection lost" signal.
//
// It is a leaf package of its own, not part of package receiver, so that the
// test fake (receiver/spotifytest) can implement it without importing
// receiver: receiver's sub-packages (dealer, spclient, ...) use the fake in
// their tests, and a fake that imported receiver would make an import cycle
// as soon as receiver wires those sub-packages.
//
// The AP cannot be faked on the wire (its handshake checks Spotify's RSA
// signature), so everything that needs it goes through the Conn interface:
// go-librespot's ap in production (receiver/apdial.go), spotifytest.APFake in
// tests. What can be tested without the AP lives here as plain code: the
// audio-key packet codec and provider, and the parsers of the country-code
// and product-info packets.
package apconn

import (
	"context"
	"errors"
	"fmt"

	"github.com/speakerbox/speakerbox/internal/creds"
)

// KeySource hands out the AES key of an audio file. Track loading depends on
// this interface only.
type KeySource interface {
	// AudioKey asks for the key of fileID (20 bytes) of the track or episode
	// gid (16 bytes). Errors: *KeyRefusedError (the AP said no, e.g. a
	// license-gated track), ErrKeyTimeout, ErrMalformed, ErrConnLost, or the
	// context's error.
	AudioKey(ctx context.Context, gid [16]byte, fileID [20]byte) ([16]byte, error)
}

// Account is what the AP tells about the logged-in account after the login.
// Both methods wait until the AP has sent the value (it arrives shortly after
// the login), the context ends or the connection is lost (ErrConnLost).
type Account interface {
	// Country is the account's country: two upper-case ASCII letters, as
	// track restrictions name countries.
	Country(ctx context.Context) (string, error)
	// Product is the account's product info (type, image URL template).
	Product(ctx context.Context) (Product, error)
}

// Conn is one logged-in connection to Spotify's access point.
type Conn interface {
	// Username is the canonical username the access point answered with.
	Username() string
	// Reusable is the stored-credentials login the access point handed back;
	// the next start logs in with it.
	Reusable() creds.Credentials
	Account
	KeySource
	// Done is closed when the connection is lost for good. In-flight and
	// later AudioKey calls then fail with ErrConnLost.
	Done() <-chan struct{}
	// Close ends the connection. It may block while the connection is in
	// the middle of reconnecting (go-librespot v0.7.4), so callers that
	// must not block call it in a goroutine.
	Close()
}

// Dialer logs in to Spotify. The real one speaks to the access point; tests
// use a fake, since the access point's handshake cannot be faked on the wire.
type Dialer interface {
	Dial(ctx context.Context, c creds.Credentials) (Conn, error)
}

// RejectedError is a login the access point refused for a reason that
// retrying will not fix (bad credentials, no Premium): the session waits for
// new credentials instead of retrying.
type RejectedError struct{ Reason string }

func (e *RejectedError) Error() string { return "login rejected: " + e.Reason }

var (
	// ErrConnLost: the connection to the access point was lost (or closed)
	// before an answer came.
	ErrConnLost = errors.New("access point connection lost")
	// ErrKeyTimeout: the access point did not answer an audio-key request
	// in time.
	ErrKeyTimeout = errors.New("no audio key answer in time")
	// ErrMalformed: a packet from the access point could not be decoded.
	ErrMalformed = errors.New("malformed access point packet")
)

// KeyRefusedError is an audio-key request the access point answered with an
// error code (packet 0x0e).
type KeyRefusedError struct{ Code uint16 }

func (e *KeyRefusedError) Error() string {
	return fmt.Sprintf("audio key refused by the access point (code 0x%04x)", e.Code)
}

package receiver

import (
	"context"
	"errors"
	"testing"

	"github.com/devgianlu/go-librespot/ap"

	"github.com/speakerbox/speakerbox/receiver/apconn"
)

// Our packet numbers are go-librespot's: a mismatch would send requests the
// AP does not understand and drop its answers.
func TestPacketTypesMatchGoLibrespot(t *testing.T) {
	for ours, theirs := range map[apconn.PacketType]ap.PacketType{
		apconn.PacketRequestKey:  ap.PacketTypeRequestKey,
		apconn.PacketAesKey:      ap.PacketTypeAesKey,
		apconn.PacketAesKeyError: ap.PacketTypeAesKeyError,
		apconn.PacketCountryCode: ap.PacketTypeCountryCode,
		apconn.PacketProductInfo: ap.PacketTypeProductInfo,
	} {
		if byte(ours) != byte(theirs) {
			t.Errorf("packet 0x%02x is go-librespot's %v (0x%02x)", byte(ours), theirs, byte(theirs))
		}
	}
}

// apLink against channels shaped like go-librespot's: an unbuffered receive
// channel the test writes to the way the AP's receive loop does (blocking),
// and a send function standing in for Accesspoint.Send.
func TestAPLink(t *testing.T) {
	in := make(chan ap.Packet)
	done := make(chan struct{})
	sent := make(chan ap.Packet, 4)
	send := func(_ context.Context, t ap.PacketType, p []byte) error {
		sent <- ap.Packet{Type: t, Payload: p}
		return nil
	}
	l := newAPLink(in, send, done, 0, nil)
	ctx := t.Context()

	// Packets the link does not use are drained too (the AP never blocks).
	in <- ap.Packet{Type: ap.PacketTypeLicenseVersion, Payload: []byte{1}}
	in <- ap.Packet{Type: ap.PacketTypeCountryCode, Payload: []byte("gb")}
	in <- ap.Packet{Type: ap.PacketTypeProductInfo, Payload: []byte("<products><product><type>premium</type><image-url>u/{file_id}</image-url></product></products>")}
	if c, err := l.Country(ctx); c != "GB" || err != nil {
		t.Fatalf("Country = %q, %v", c, err)
	}
	if p, err := l.Product(ctx); !p.Premium() || p.ImageURLFor("ab") != "u/ab" || err != nil {
		t.Fatalf("Product = %+v, %v", p, err)
	}

	type res struct {
		key [16]byte
		err error
	}
	got := make(chan res, 1)
	go func() {
		k, err := l.AudioKey(ctx, [16]byte{1}, [20]byte{2})
		got <- res{k, err}
	}()
	req := <-sent
	if req.Type != ap.PacketTypeRequestKey {
		t.Fatalf("sent %v, want RequestKey", req.Type)
	}
	fileID, gid, seq, err := apconn.DecodeKeyRequest(req.Payload)
	if err != nil || fileID != [20]byte{2} || gid != [16]byte{1} {
		t.Fatalf("request %x %x %v", fileID, gid, err)
	}
	in <- ap.Packet{Type: ap.PacketTypeAesKey, Payload: apconn.EncodeKeyAnswer(seq, [16]byte{0x42})}
	if r := <-got; r.err != nil || r.key != [16]byte{0x42} {
		t.Fatalf("AudioKey = %x, %v", r.key, r.err)
	}

	// The AP is lost: an in-flight request fails at once.
	go func() {
		k, err := l.AudioKey(ctx, [16]byte{1}, [20]byte{3})
		got <- res{k, err}
	}()
	<-sent
	close(done)
	if r := <-got; !errors.Is(r.err, apconn.ErrConnLost) {
		t.Fatalf("after loss: %v, want ErrConnLost", r.err)
	}
	// go-librespot closes the channel after Done; the goroutines end.
	in <- ap.Packet{Type: ap.PacketTypeCountryCode, Payload: []byte("se")}
	close(in)
	l.wait()
}

// A send that fails because go-librespot's AP is closed is the typed loss.
func TestAPLinkSendOnClosedAP(t *testing.T) {
	in := make(chan ap.Packet)
	send := func(context.Context, ap.PacketType, []byte) error { return ap.ErrAccesspointClosed }
	l := newAPLink(in, send, make(chan struct{}), 0, nil)
	if _, err := l.AudioKey(t.Context(), [16]byte{}, [20]byte{}); !errors.Is(err, apconn.ErrConnLost) {
		t.Fatalf("err = %v, want ErrConnLost", err)
	}
	close(in)
	l.wait()
}

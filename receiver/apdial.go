package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/devgianlu/go-librespot/ap"
	"github.com/devgianlu/go-librespot/apresolve"
	pb "github.com/devgianlu/go-librespot/proto/spotify"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver/apconn"
)

// APDialer logs in to Spotify's real access point: apresolve for the
// address, then go-librespot's ap package for the handshake and login.
type APDialer struct {
	DeviceID string
	HTTP     *http.Client
	Log      *slog.Logger
	// Timeout bounds one whole login attempt (resolve, connect, login);
	// the Session retries after it.
	Timeout time.Duration
	// KeyTimeout bounds one audio-key request; apconn.DefaultKeyTimeout
	// when zero.
	KeyTimeout time.Duration
}

// Dial implements Dialer.
func (d *APDialer) Dial(ctx context.Context, c creds.Credentials) (Conn, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 45 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lg := &librespotLog{l: d.Log.With("component", "ap")}
	resolver := apresolve.NewApResolver(lg, d.HTTP)
	addr, err := resolver.GetAccesspoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("resolve access point: %w", err)
	}
	conn := ap.NewAccesspoint(lg, addr, d.DeviceID)
	login := &pb.LoginCredentials{
		Typ:      pb.AuthenticationType(c.AuthType).Enum(),
		AuthData: c.AuthData,
	}
	// A device-flow token carries no username; the access point derives it.
	if c.Username != "" {
		login.Username = proto.String(c.Username)
	}
	if err := conn.Connect(ctx, login); err != nil {
		conn.Close()
		var le *ap.AccesspointLoginError
		if errors.As(err, &le) && le.Message != nil && permanent(le.Message.GetErrorCode()) {
			return nil, &RejectedError{Reason: le.Message.GetErrorCode().String()}
		}
		return nil, fmt.Errorf("access point login: %w", err)
	}
	return newAPConn(conn, d.KeyTimeout, d.Log.With("component", "ap")), nil
}

// permanent reports login failures that retrying with the same credentials
// cannot fix.
func permanent(code pb.ErrorCode) bool {
	switch code {
	case pb.ErrorCode_BadCredentials, pb.ErrorCode_PremiumAccountRequired,
		pb.ErrorCode_ApplicationBanned, pb.ErrorCode_TravelRestriction:
		return true
	}
	return false
}

// apConn is a logged-in go-librespot Accesspoint behind the apconn seam.
type apConn struct {
	ap *ap.Accesspoint
	*apLink
}

func newAPConn(a *ap.Accesspoint, keyTimeout time.Duration, log *slog.Logger) *apConn {
	// Registered right after the login, before anything else can start
	// the AP's receive loop (see apLink).
	in := a.Receive(ap.PacketTypeCountryCode, ap.PacketTypeProductInfo, ap.PacketTypeAesKey, ap.PacketTypeAesKeyError)
	return &apConn{ap: a, apLink: newAPLink(in, a.Send, a.Done(), keyTimeout, log)}
}

func (c *apConn) Username() string      { return c.ap.Username() }
func (c *apConn) Done() <-chan struct{} { return c.ap.Done() }
func (c *apConn) Reusable() creds.Credentials {
	return creds.Credentials{Username: c.ap.Username(), AuthType: creds.AuthStoredSpotify, AuthData: c.ap.StoredCredentials()}
}

// Close closes the AP and waits for the goroutines draining it: they end
// when the AP's receive loop closes its channel, which it does once it sees
// the connection closed (or after a reconnect it was in the middle of).
func (c *apConn) Close() {
	c.ap.Close()
	c.wait()
}

// apLink carries what the AP pushes after the login (country, product info,
// audio-key answers) to apconn's Info and KeyProvider.
//
// go-librespot's Receive returns an unbuffered channel, and its single
// receive loop (which also answers the AP's pings) blocks on every send to
// it. So one receiver is registered for every type we read, and two owned
// goroutines drain it to its end: one converts the packets to apconn's type,
// the other (apconn.Serve) hands them to the Info and the KeyProvider,
// neither of which ever blocks.
type apLink struct {
	info *apconn.Info
	keys *apconn.KeyProvider
	pkts apPackets
	wg   sync.WaitGroup
}

func newAPLink(in <-chan ap.Packet, send func(context.Context, ap.PacketType, []byte) error, done <-chan struct{}, keyTimeout time.Duration, log *slog.Logger) *apLink {
	l := &apLink{info: apconn.NewInfo(), pkts: apPackets{send: send, done: done, ch: make(chan apconn.Packet)}}
	l.keys = apconn.NewKeyProvider(l.pkts, apconn.KeyConfig{Timeout: keyTimeout, Log: log})
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		defer close(l.pkts.ch)
		// The AP closes in only when it is gone for good (after Close, or
		// when it gives up reconnecting); across its own reconnects the
		// channel stays open.
		for p := range in {
			l.pkts.ch <- apconn.Packet{Type: apconn.PacketType(p.Type), Payload: p.Payload}
		}
	}()
	go func() {
		defer l.wg.Done()
		apconn.Serve(l.pkts, l.info, l.keys, log)
	}()
	return l
}

func (l *apLink) Country(ctx context.Context) (string, error)         { return l.info.Country(ctx) }
func (l *apLink) Product(ctx context.Context) (apconn.Product, error) { return l.info.Product(ctx) }
func (l *apLink) AudioKey(ctx context.Context, gid [16]byte, fileID [20]byte) ([16]byte, error) {
	return l.keys.AudioKey(ctx, gid, fileID)
}
func (l *apLink) wait() { l.wg.Wait() }

// apPackets is the packet side of the AP, as apconn.PacketConn.
type apPackets struct {
	send func(context.Context, ap.PacketType, []byte) error
	done <-chan struct{}
	ch   chan apconn.Packet
}

func (p apPackets) Send(ctx context.Context, t apconn.PacketType, payload []byte) error {
	err := p.send(ctx, ap.PacketType(t), payload)
	if errors.Is(err, ap.ErrAccesspointClosed) {
		return fmt.Errorf("%w: %w", apconn.ErrConnLost, err)
	}
	return err
}
func (p apPackets) Receive() <-chan apconn.Packet { return p.ch }
func (p apPackets) Done() <-chan struct{}         { return p.done }

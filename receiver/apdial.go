package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/devgianlu/go-librespot/ap"
	"github.com/devgianlu/go-librespot/apresolve"
	pb "github.com/devgianlu/go-librespot/proto/spotify"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/internal/creds"
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
	return &apConn{ap: conn}, nil
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

type apConn struct{ ap *ap.Accesspoint }

func (c *apConn) Username() string      { return c.ap.Username() }
func (c *apConn) Done() <-chan struct{} { return c.ap.Done() }
func (c *apConn) Close()                { c.ap.Close() }
func (c *apConn) Reusable() creds.Credentials {
	return creds.Credentials{Username: c.ap.Username(), AuthType: creds.AuthStoredSpotify, AuthData: c.ap.StoredCredentials()}
}

// Package clienttoken gets and keeps the client token that Spotify's
// login5 and spclient services want in their Client-Token header.
//
// go-librespot has this only in its cgo session package and never
// refreshes the token; this client refreshes it after the
// refresh_after_seconds the service grants.
package clienttoken

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	librespot "github.com/devgianlu/go-librespot"
	pbdata "github.com/devgianlu/go-librespot/proto/spotify/clienttoken/data/v0"
	pbhttp "github.com/devgianlu/go-librespot/proto/spotify/clienttoken/http/v0"
	"github.com/speakerbox/speakerbox/receiver/internal/protopost"
	"google.golang.org/protobuf/proto"
)

// DefaultURL is Spotify's client token endpoint.
const DefaultURL = "https://clienttoken.spotify.com/v1/clienttoken"

// DefaultClientVersion is sent as client_data.client_version when the
// Config names none (go-librespot sends the same for untagged builds).
const DefaultClientVersion = "0.0.0"

// fallbackLifetime is how long a token is kept when the service grants one
// without any lifetime, so a zero does not turn into a request per call.
const fallbackLifetime = time.Hour

// ErrChallenge means the service answered with challenges instead of a
// token. We cannot answer them (nor can any open client we know of).
var ErrChallenge = errors.New("client token service answered with challenges")

// StatusError is a non-200 answer of the service.
type StatusError struct {
	Code int
	Body string // the start of the body, for the log
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("client token service answered HTTP %d: %q", e.Code, e.Body)
}

// Config holds what a Client needs. HTTP and DeviceID are required.
type Config struct {
	HTTP          *http.Client
	Log           *slog.Logger     // nil: slog.Default()
	DeviceID      string           // our stable device id (40 hex digits)
	ClientID      string           // "": librespot.ClientIdHex
	ClientVersion string           // "": DefaultClientVersion
	URL           string           // "": DefaultURL
	Now           func() time.Time // nil: time.Now
}

// Client fetches a client token on first use and again once the service's
// refresh time has passed. It is safe for concurrent use; concurrent
// callers share one request.
type Client struct {
	cfg Config
	req []byte // the marshalled request, the same for every fetch

	lock chan struct{} // a mutex that a waiting caller can give up on

	token     string
	refreshAt time.Time
	expiresAt time.Time
}

// New checks cfg and returns a Client. It makes no request.
func New(cfg Config) (*Client, error) {
	if cfg.HTTP == nil {
		return nil, errors.New("clienttoken: Config.HTTP is nil")
	}
	if cfg.DeviceID == "" {
		return nil, errors.New("clienttoken: Config.DeviceID is empty")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ClientID == "" {
		cfg.ClientID = librespot.ClientIdHex
	}
	if cfg.ClientVersion == "" {
		cfg.ClientVersion = DefaultClientVersion
	}
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	body, err := proto.Marshal(&pbhttp.ClientTokenRequest{
		RequestType: pbhttp.ClientTokenRequestType_REQUEST_CLIENT_DATA_REQUEST,
		Request: &pbhttp.ClientTokenRequest_ClientData{ClientData: &pbhttp.ClientDataRequest{
			ClientVersion: cfg.ClientVersion,
			ClientId:      cfg.ClientID,
			Data: &pbhttp.ClientDataRequest_ConnectivitySdkData{ConnectivitySdkData: &pbdata.ConnectivitySdkData{
				DeviceId: cfg.DeviceID,
				PlatformSpecificData: &pbdata.PlatformSpecificData{Data: &pbdata.PlatformSpecificData_DesktopLinux{
					DesktopLinux: &pbdata.NativeDesktopLinuxData{SystemName: "Linux", Hardware: unameMachine(runtime.GOARCH)},
				}},
			}},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("clienttoken: marshal request: %w", err)
	}
	return &Client{cfg: cfg, req: body, lock: make(chan struct{}, 1)}, nil
}

// unameMachine maps GOARCH to what `uname -m` says on that machine.
func unameMachine(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "arm":
		return "armv7l"
	case "386":
		return "i686"
	}
	return goarch
}

// Token returns a valid client token, fetching one when there is none or
// the refresh time has passed. If a refresh fails while the old token has
// not expired yet, the old token is returned and the failure only logged.
func (c *Client) Token(ctx context.Context) (string, error) {
	select {
	case c.lock <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("client token: %w", ctx.Err())
	}
	defer func() { <-c.lock }()

	now := c.cfg.Now()
	if c.token != "" && now.Before(c.refreshAt) {
		return c.token, nil
	}
	g, err := c.fetch(ctx)
	if err != nil {
		if c.token != "" && now.Before(c.expiresAt) {
			c.cfg.Log.Warn("client token refresh failed; keeping the current token until it expires",
				"err", err, "expires", c.expiresAt)
			return c.token, nil
		}
		return "", err
	}
	c.setLocked(now, g)
	return c.token, nil
}

func (c *Client) setLocked(now time.Time, g *pbhttp.GrantedTokenResponse) {
	expires := time.Duration(g.GetExpiresAfterSeconds()) * time.Second
	refresh := time.Duration(g.GetRefreshAfterSeconds()) * time.Second
	if expires <= 0 {
		expires = fallbackLifetime
	}
	if refresh <= 0 || refresh > expires {
		refresh = expires
	}
	c.token = g.GetToken()
	c.expiresAt = now.Add(expires)
	c.refreshAt = now.Add(refresh)
	c.cfg.Log.Debug("client token granted", "refresh_after", refresh, "expires_after", expires)
}

func (c *Client) fetch(ctx context.Context) (*pbhttp.GrantedTokenResponse, error) {
	resp, err := protopost.Do(ctx, c.cfg.HTTP, "client token", c.cfg.URL, c.req, nil)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return nil, &StatusError{Code: resp.Status, Body: resp.Snippet()}
	}
	return ParseResponse(resp.Body)
}

// ParseResponse decodes a ClientTokenResponse and returns its granted
// token, or an error saying why there is none (ErrChallenge for
// challenges). It never panics, whatever the bytes.
func ParseResponse(body []byte) (*pbhttp.GrantedTokenResponse, error) {
	var r pbhttp.ClientTokenResponse
	if err := proto.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("client token: decode response: %w", err)
	}
	switch r.GetResponseType() {
	case pbhttp.ClientTokenResponseType_RESPONSE_GRANTED_TOKEN_RESPONSE:
		g := r.GetGrantedToken()
		if g.GetToken() == "" {
			return nil, errors.New("client token: granted response without a token")
		}
		return g, nil
	case pbhttp.ClientTokenResponseType_RESPONSE_CHALLENGES_RESPONSE:
		var kinds []string
		for _, ch := range r.GetChallenges().GetChallenges() {
			kinds = append(kinds, ch.GetType().String())
		}
		return nil, fmt.Errorf("client token: %w %v", ErrChallenge, kinds)
	default:
		return nil, fmt.Errorf("client token: unknown response type %v", r.GetResponseType())
	}
}

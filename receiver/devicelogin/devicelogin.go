// Package devicelogin logs the speaker in to Spotify without a phone on the
// LAN: the OAuth 2.0 device authorization grant (RFC 8628). The speaker gets
// a short code, the owner enters it at spotify.com/pair in any browser, the
// speaker polls until the owner has approved, logs in to the access point
// with the resulting access token (through the same apconn.Dialer as every
// other login) and stores the canonical username and the reusable
// credentials the access point hands back, verified.
//
// golang.org/x/oauth2 makes the device authorization request. The polling is
// ours: x/oauth2's DeviceAccessToken waits on a real ticker, gives up at the
// first network error and cannot report progress, while an appliance must
// ride out a flaky network (RFC 8628 §3.5 asks for a slower poll after a
// timeout), tell its owner what is going on, and be tested without sleeping.
package devicelogin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	librespot "github.com/devgianlu/go-librespot"
	"golang.org/x/oauth2"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/internal/ctxsleep"
	"github.com/speakerbox/speakerbox/internal/redact"
	"github.com/speakerbox/speakerbox/receiver/apconn"
)

// Spotify's endpoints of the grant.
const (
	DeviceAuthURL = "https://accounts.spotify.com/oauth2/device/authorize"
	TokenURL      = "https://accounts.spotify.com/api/token"
)

// Bounds on what the accounts service may ask of us, so that a broken or
// hostile answer cannot make the speaker poll in a tight loop or wait
// forever.
const (
	defaultInterval = 5 * time.Second // RFC 8628 §3.2: when the answer names none
	minInterval     = time.Second
	maxInterval     = time.Minute
	slowDownStep    = 5 * time.Second // RFC 8628 §3.5
	defaultValidFor = 10 * time.Minute
	maxValidFor     = time.Hour
	maxAnswer       = 64 << 10
	maxUserCode     = 64
	maxAddress      = 1024 // fits a QR code
)

// scopes are the ones go-librespot asks for (shared with its interactive
// login); "streaming" is the one a speaker needs.
var scopes = []string{
	"app-remote-control", "playlist-modify", "playlist-modify-private", "playlist-modify-public",
	"playlist-read", "playlist-read-collaborative", "playlist-read-private", "streaming",
	"ugc-image-upload", "user-follow-modify", "user-follow-read", "user-library-modify",
	"user-library-read", "user-modify", "user-modify-playback-state", "user-modify-private",
	"user-personalized", "user-read-birthdate", "user-read-currently-playing", "user-read-email",
	"user-read-play-history", "user-read-playback-position", "user-read-playback-state",
	"user-read-private", "user-read-recently-played", "user-top-read",
}

// Store is where an accepted login goes: creds.Store's Accepted.
type Store interface {
	Accepted(used, reusable creds.Credentials) error
}

// Config is what a Flow needs.
type Config struct {
	// HTTP reaches accounts.spotify.com.
	HTTP *http.Client
	// Dialer logs in to the access point (receiver.APDialer in production).
	Dialer apconn.Dialer
	// Store keeps the login the access point accepted.
	Store Store
	// Now is the clock the code's validity is measured on; time.Now when
	// nil.
	Now func() time.Time
	// Wait waits between polls: d, or until ctx ends. ctxsleep.Sleep when
	// nil; tests advance a fake clock instead.
	Wait func(ctx context.Context, d time.Duration) error
	Log  *slog.Logger
	// ClientID is the OAuth client; librespot.ClientIdHex when empty (a
	// client Spotify enables the device grant for).
	ClientID string
}

// Flow runs device-authorization logins. It keeps no state between them.
type Flow struct {
	cfg   Config
	oauth *oauth2.Config
}

// New returns a Flow.
func New(cfg Config) *Flow {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Wait == nil {
		cfg.Wait = ctxsleep.Sleep
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.ClientID == "" {
		cfg.ClientID = librespot.ClientIdHex
	}
	return &Flow{cfg: cfg, oauth: &oauth2.Config{
		ClientID: cfg.ClientID,
		Scopes:   scopes,
		Endpoint: oauth2.Endpoint{DeviceAuthURL: DeviceAuthURL, TokenURL: TokenURL},
	}}
}

// Code is what the owner needs to approve the login, and what the speaker
// needs to poll for it.
type Code struct {
	// UserCode is what the owner types at VerificationURI.
	UserCode string
	// VerificationURI is where to type it (spotify.com/pair).
	VerificationURI string
	// VerificationURIComplete carries the code already; empty when the
	// service sent none (or one that is not an https address).
	VerificationURIComplete string
	// Expires is when the code stops working, on Config.Now's clock.
	Expires time.Time
	// Interval is how often the service lets us ask.
	Interval time.Duration

	deviceCode string
}

// Address is the one address to show: the complete one when there is one.
func (c *Code) Address() string {
	if c.VerificationURIComplete != "" {
		return c.VerificationURIComplete
	}
	return c.VerificationURI
}

// Start asks the accounts service for a code.
func (f *Flow) Start(ctx context.Context) (*Code, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, f.cfg.HTTP)
	da, err := f.oauth.DeviceAuth(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return nil, &ServerError{Op: "ask Spotify for a login code", Status: re.Response.StatusCode, Code: clip(re.ErrorCode), Description: clip(re.ErrorDescription)}
		}
		return nil, fmt.Errorf("ask Spotify for a login code (is the speaker online?): %w", err)
	}
	// x/oauth2 turned expires_in into a time on the real clock; carry the
	// remaining validity over to ours (rounded: expires_in is in seconds).
	validFor := defaultValidFor
	if !da.Expiry.IsZero() {
		validFor = time.Until(da.Expiry).Round(time.Second)
	}
	c := &Code{
		UserCode:        da.UserCode,
		VerificationURI: da.VerificationURI,
		Interval:        defaultInterval,
		deviceCode:      da.DeviceCode,
	}
	switch {
	case da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "":
		return nil, errors.New("ask Spotify for a login code: the answer lacks device_code, user_code or verification_uri")
	case !showable(da.UserCode, maxUserCode):
		// It goes to the owner's terminal as it is.
		return nil, errors.New("ask Spotify for a login code: the user_code is too long or holds control characters")
	case !httpsAddress(da.VerificationURI):
		return nil, fmt.Errorf("ask Spotify for a login code: verification_uri %q is not an https address", da.VerificationURI)
	case validFor <= 0:
		return nil, errors.New("ask Spotify for a login code: the code came already expired")
	}
	if httpsAddress(da.VerificationURIComplete) {
		c.VerificationURIComplete = da.VerificationURIComplete
	}
	if da.Interval > 0 {
		c.Interval = time.Duration(min(da.Interval, int64(maxInterval/time.Second))) * time.Second
	}
	c.Interval = max(c.Interval, minInterval)
	c.Expires = f.cfg.Now().Add(min(validFor, maxValidFor))
	f.cfg.Log.Debug("login code issued", "valid_for", c.Expires.Sub(f.cfg.Now()), "interval", c.Interval)
	return c, nil
}

// httpsAddress reports whether s is an https address fit to show.
func httpsAddress(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && showable(s, maxAddress)
}

// showable reports whether s may go to a terminal: bounded, valid UTF-8, no
// control characters.
func showable(s string, n int) bool {
	return len(s) <= n && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// Errors of Wait that end a login for good.
var (
	// ErrDenied: the owner declined at spotify.com/pair.
	ErrDenied = errors.New("the login was declined on Spotify's page; nothing was stored")
	// ErrExpired: nobody approved the code in time.
	ErrExpired = errors.New("the code expired before anyone approved it; nothing was stored (run the login again for a new code)")
)

// ServerError is an answer of the accounts service that ends the login.
type ServerError struct {
	Op          string
	Status      int
	Code        string // the OAuth error code, e.g. invalid_client
	Description string
}

func (e *ServerError) Error() string {
	msg := fmt.Sprintf("%s: Spotify answered HTTP %d", e.Op, e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Description != "" {
		msg += " (" + e.Description + ")"
	}
	return msg
}

// ProgressKind says what a poll found.
type ProgressKind int

// What a poll can find that does not end the wait.
const (
	// Pending: the owner has not approved yet.
	Pending ProgressKind = iota
	// SlowDown: the service asked for a slower poll; Interval is the new one.
	SlowDown
	// Retrying: the poll failed (network, or the service answered with an
	// error of its own); it is retried after Interval, doubled.
	Retrying
)

// Progress is reported after every poll that leaves us waiting.
type Progress struct {
	Kind ProgressKind
	// Polls is how many polls have been made so far.
	Polls int
	// Remaining is how long the code stays valid.
	Remaining time.Duration
	// Interval is the wait before the next poll.
	Interval time.Duration
	// Err is what went wrong (Retrying only).
	Err error
}

// Grant is an approved login: the access token, which stays inside this
// package and prints as its length only.
type Grant struct{ token string }

func (g *Grant) String() string {
	return fmt.Sprintf("devicelogin.Grant{token of %d bytes}", len(g.token))
}

// LogValue implements slog.LogValuer.
func (g *Grant) LogValue() slog.Value { return slog.StringValue(g.String()) }

// Wait polls until the owner approves c, declines it (ErrDenied) or it
// expires (ErrExpired), or ctx ends (its error). progress, when not nil, is
// called after every poll that leaves us waiting.
func (f *Flow) Wait(ctx context.Context, c *Code, progress func(Progress)) (*Grant, error) {
	interval := c.Interval
	for polls := 0; ; {
		remaining := c.Expires.Sub(f.cfg.Now())
		if remaining <= 0 {
			return nil, ErrExpired
		}
		if err := f.cfg.Wait(ctx, min(interval, remaining)); err != nil {
			return nil, err
		}
		if !f.cfg.Now().Before(c.Expires) {
			return nil, ErrExpired
		}
		polls++
		tok, err := f.poll(ctx, c)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		kind := Pending
		var pe *pollError
		switch {
		case err == nil:
			f.cfg.Log.Debug("login approved", "polls", polls)
			return &Grant{token: tok}, nil
		case errors.As(err, &pe) && pe.code == "authorization_pending":
		case errors.As(err, &pe) && pe.code == "slow_down":
			kind, interval = SlowDown, min(interval+slowDownStep, maxInterval)
		case errors.As(err, &pe) && pe.code == "access_denied":
			return nil, ErrDenied
		case errors.As(err, &pe) && pe.code == "expired_token":
			return nil, ErrExpired
		case errors.As(err, &pe) && !pe.transient:
			return nil, &ServerError{Op: "wait for the login to be approved", Status: pe.status, Code: pe.code, Description: pe.desc}
		default:
			// The network, or the service having a bad moment: RFC 8628
			// §3.5 asks for a slower poll after a timeout; doubling is
			// what it recommends.
			kind, interval = Retrying, min(2*interval, maxInterval)
			f.cfg.Log.Debug("polling for the login failed; retrying", "err", err, "retry_in", interval)
		}
		if progress != nil {
			progress(Progress{Kind: kind, Polls: polls, Remaining: c.Expires.Sub(f.cfg.Now()), Interval: interval, Err: err})
		}
	}
}

// poll asks the token endpoint once.
func (f *Flow) poll(ctx context.Context, c *Code) (string, error) {
	form := url.Values{
		"client_id":   {f.cfg.ClientID},
		"grant_type":  {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {c.deviceCode},
		"scope":       {strings.Join(scopes, " ")},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := f.cfg.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return "", fmt.Errorf("read token answer: %w", err)
	}
	return parseTokenAnswer(resp.StatusCode, body)
}

// Finish logs in to the access point with g's token and stores what the
// access point hands back: its canonical username and reusable credentials,
// verified. A refusal is a *RefusedError; nothing is stored unless the
// login succeeded, and nothing when ctx ended first.
func (f *Flow) Finish(ctx context.Context, g *Grant) (creds.Credentials, error) {
	// No username: the access point derives it from the token.
	used := creds.Credentials{AuthType: creds.AuthSpotifyToken, AuthData: []byte(g.token)}
	conn, err := f.cfg.Dialer.Dial(ctx, used)
	if err != nil {
		if ctx.Err() != nil {
			return creds.Credentials{}, ctx.Err()
		}
		var re *apconn.RejectedError
		if errors.As(err, &re) {
			return creds.Credentials{}, &RefusedError{Reason: re.Reason}
		}
		return creds.Credentials{}, fmt.Errorf("log in to Spotify with the approved code: %w; nothing was stored", err)
	}
	defer conn.Close()
	reusable := conn.Reusable()
	if reusable.Username == "" {
		reusable.Username = conn.Username()
	}
	if err := reusable.Validate(); err != nil || reusable.AuthType == creds.AuthSpotifyToken {
		return creds.Credentials{}, errors.New("the login was accepted, but Spotify handed back no reusable credentials; nothing was stored")
	}
	if err := ctx.Err(); err != nil {
		return creds.Credentials{}, err
	}
	if err := f.cfg.Store.Accepted(used, reusable); err != nil {
		return creds.Credentials{}, fmt.Errorf("store the login of %s: %w", redact.Username(reusable.Username), err)
	}
	f.cfg.Log.Info("logged in with a code and stored the login", "user", redact.Username(reusable.Username))
	return reusable, nil
}

// RefusedError is the access point refusing the token login for good.
// Spotify has refused token logins from open clients before (librespot and
// go-librespot saw it from 2026-08-10), so the message points to the route
// that works without it.
type RefusedError struct {
	Reason string // the access point's error code, e.g. BadCredentials
}

func (e *RefusedError) Error() string {
	if e.Reason == "PremiumAccountRequired" {
		return "Spotify refused the login: this account has no Premium, which speakers need. Nothing was stored"
	}
	why := "Spotify refused to log this speaker in with the approved code"
	if e.Reason == "BadCredentials" {
		why += " (Spotify may no longer accept this way of logging in)"
	} else {
		why += " (" + e.Reason + ")"
	}
	return why + ". Nothing was stored. Log in from the Spotify app instead: on a phone or computer " +
		"in the same network as the speaker, open Spotify and pick the speaker in the list of devices"
}

// Package login5 logs in to Spotify's login5 service with the access
// point's reusable credentials and keeps the access token that spclient and
// the dealer use.
//
// It replaces go-librespot v0.7.4's login5 package, which solves hashcash
// challenges wrongly, ignores the HTTP status, never retries and refreshes
// a token only once it has expired.
package login5

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	librespot "github.com/devgianlu/go-librespot"
	pb "github.com/devgianlu/go-librespot/proto/spotify/login5/v3"
	challengespb "github.com/devgianlu/go-librespot/proto/spotify/login5/v3/challenges"
	credentialspb "github.com/devgianlu/go-librespot/proto/spotify/login5/v3/credentials"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/speakerbox/speakerbox/internal/ctxsleep"
	"github.com/speakerbox/speakerbox/receiver/internal/protopost"
)

// DefaultURL is Spotify's login5 endpoint.
const DefaultURL = "https://login5.spotify.com/v3/login"

// RefreshMargin is how long before its expiry a token is replaced, so that
// a request never leaves with a token about to lapse in flight.
const RefreshMargin = 10 * time.Second

// DefaultMaxAttempts bounds the attempts of one login (the first and the
// retries after transient failures).
const DefaultMaxAttempts = 4

// maxChallengeRounds bounds how often one attempt may be challenged again
// after answering.
const maxChallengeRounds = 3

// ErrInvalidCredentials means login5 refused the credentials: retrying
// cannot help, a new login on the access point (a phone) is needed.
// errors.Is(err, ErrInvalidCredentials) holds for such a *LoginError.
var ErrInvalidCredentials = errors.New("login5: invalid credentials")

// ErrUnsupportedChallenge means login5 asked for a challenge other than
// hashcash (an SMS code), which a speaker cannot answer.
var ErrUnsupportedChallenge = errors.New("login5: unsupported challenge")

// LoginError is a LoginResponse.error from the service.
type LoginError struct {
	Code pb.LoginError
}

func (e *LoginError) Error() string { return fmt.Sprintf("login5 refused the login: %v", e.Code) }

// Is makes errors.Is(err, ErrInvalidCredentials) true for INVALID_CREDENTIALS.
func (e *LoginError) Is(target error) bool {
	return target == ErrInvalidCredentials && e.Code == pb.LoginError_INVALID_CREDENTIALS
}

// Temporary reports whether the service asked us to come back later.
func (e *LoginError) Temporary() bool {
	switch e.Code {
	case pb.LoginError_TIMEOUT, pb.LoginError_TOO_MANY_ATTEMPTS, pb.LoginError_TRY_AGAIN_LATER:
		return true
	}
	return false
}

// StatusError is a non-200 answer of the service.
type StatusError struct {
	Code       int
	RetryAfter time.Duration // from a Retry-After header in seconds; 0 if none
	Body       string        // the start of the body, for the log
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("login5 answered HTTP %d: %q", e.Code, e.Body)
}

// TokenSource gives the client token (package clienttoken's *Client).
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// Config holds what a Client needs. HTTP, ClientToken, DeviceID, Username
// and StoredCredential are required.
type Config struct {
	HTTP        *http.Client
	Log         *slog.Logger // nil: slog.Default()
	ClientToken TokenSource
	DeviceID    string
	ClientID    string // "": librespot.ClientIdHex
	// Username and StoredCredential are the access point's canonical
	// username and reusable credentials (APWelcome).
	Username         string
	StoredCredential []byte
	URL              string           // "": DefaultURL
	Now              func() time.Time // nil: time.Now
	// Sleep waits between attempts; nil: a timer that ends early with ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// Backoff is the wait before retry n (1, 2, ...); nil: DefaultBackoff.
	Backoff     func(n int) time.Duration
	MaxAttempts int // 0: DefaultMaxAttempts
}

// DefaultBackoff waits about 1 s, 2 s, 4 s ... (at most 30 s), each drawn
// from [d/2, 3d/2) so that speakers refused together do not retry together.
func DefaultBackoff(n int) time.Duration {
	d := time.Second << min(max(n-1, 0), 5)
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d)
}

// Client holds the login5 access token and logs in again when it is
// forced to, when the token is within RefreshMargin of its expiry, or when
// the token was reported bad with Invalidate. Safe for concurrent use;
// concurrent callers share one login.
type Client struct {
	cfg Config

	lock chan struct{} // serialises logins; a waiting caller can give up
	gen  atomic.Uint64 // counts logins, so a forced caller can see one happened while it waited

	waiting func() // test hook: a caller has read gen and now waits for lock

	// guarded by lock
	token     string
	expiresAt time.Time

	mu       sync.Mutex
	username string // canonical, from the last LoginOk
	l5cred   []byte // login5's own stored credential, used for re-logins
	current  string // the token Token hands out, for Invalidate to compare
	bad      bool   // current was reported bad by Invalidate
}

// New checks cfg and returns a Client. It makes no request.
func New(cfg Config) (*Client, error) {
	switch {
	case cfg.HTTP == nil:
		return nil, errors.New("login5: Config.HTTP is nil")
	case cfg.ClientToken == nil:
		return nil, errors.New("login5: Config.ClientToken is nil")
	case cfg.DeviceID == "":
		return nil, errors.New("login5: Config.DeviceID is empty")
	case cfg.Username == "":
		return nil, errors.New("login5: Config.Username is empty")
	case len(cfg.StoredCredential) == 0:
		return nil, errors.New("login5: Config.StoredCredential is empty")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ClientID == "" {
		cfg.ClientID = librespot.ClientIdHex
	}
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = ctxsleep.Sleep
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	return &Client{cfg: cfg, lock: make(chan struct{}, 1), username: cfg.Username}, nil
}

// Username is the canonical username login5 last answered with (before the
// first login, the configured one).
func (c *Client) Username() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.username
}

// StoredCredential is the credential the next login will use: login5's own
// from the last LoginOk, or the access point's before that.
func (c *Client) StoredCredential() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.l5cred != nil {
		return bytes.Clone(c.l5cred)
	}
	return bytes.Clone(c.cfg.StoredCredential)
}

// Invalidate reports that token was refused (for instance a dealer upgrade
// answered 401), so the next Token call logs in again even with
// force=false. A token other than the current one is ignored, so many
// reports of one refused token cause one login.
func (c *Client) Invalidate(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if token != "" && token == c.current {
		c.bad = true
	}
}

// Token returns an access token. With force, or when the current one is
// within RefreshMargin of expiry or was invalidated, it logs in first. A
// forced call that waited while another caller logged in takes that fresh
// token instead of logging in again. Its signature matches go-librespot's
// GetLogin5TokenFunc.
func (c *Client) Token(ctx context.Context, force bool) (string, error) {
	seen := c.gen.Load()
	if c.waiting != nil {
		c.waiting()
	}
	select {
	case c.lock <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("login5 token: %w", ctx.Err())
	}
	defer func() { <-c.lock }()

	if force && c.gen.Load() != seen && c.token != "" {
		force = false // someone logged in while we waited
	}
	c.mu.Lock()
	bad := c.bad
	c.mu.Unlock()
	start := c.cfg.Now()
	if !force && !bad && c.token != "" && start.Before(c.expiresAt.Add(-RefreshMargin)) {
		return c.token, nil
	}

	ok, err := c.login(ctx)
	if err != nil {
		if !force && !bad && c.token != "" && start.Before(c.expiresAt) && !errors.Is(err, ErrInvalidCredentials) {
			// Inside the margin the old token still works for a while.
			c.cfg.Log.Warn("login5 refresh failed; using the current token until it expires", "err", err)
			return c.token, nil
		}
		return "", err
	}
	// The lifetime counts from before the request left, to err on the safe side.
	c.token = ok.GetAccessToken()
	c.expiresAt = start.Add(time.Duration(ok.GetAccessTokenExpiresIn()) * time.Second)
	c.gen.Add(1)
	c.mu.Lock()
	c.current, c.bad = c.token, false
	c.username = ok.GetUsername()
	if len(ok.GetStoredCredential()) > 0 {
		c.l5cred = bytes.Clone(ok.GetStoredCredential())
	}
	c.mu.Unlock()
	c.cfg.Log.Debug("login5 token granted", "expires_in", ok.GetAccessTokenExpiresIn(), "forced", force, "invalidated", bad)
	return c.token, nil
}

// login runs attempts until one succeeds, one fails for good, or the
// attempts are used up.
func (c *Client) login(ctx context.Context) (*pb.LoginOk, error) {
	for n := 1; ; n++ {
		c.mu.Lock()
		cred, ownCred := c.l5cred, c.l5cred != nil
		c.mu.Unlock()
		if !ownCred {
			cred = c.cfg.StoredCredential
		}
		ok, err := c.attempt(ctx, cred)
		if err == nil {
			return ok, nil
		}
		if ownCred && errors.Is(err, ErrInvalidCredentials) {
			// login5's own credential may have been retired; the access
			// point's is the one a user gave us. Try it at once.
			c.cfg.Log.Warn("login5 refused its own stored credential; trying the access point's")
			c.mu.Lock()
			c.l5cred = nil
			c.mu.Unlock()
			n--
			continue
		}
		if ctx.Err() != nil || !retriable(err) || n >= c.cfg.MaxAttempts {
			return nil, err
		}
		d := c.cfg.Backoff(n)
		var se *StatusError
		if errors.As(err, &se) && se.RetryAfter > d {
			d = se.RetryAfter
		}
		c.cfg.Log.Warn("login5 failed; retrying", "err", err, "attempt", n, "wait", d)
		if serr := c.cfg.Sleep(ctx, d); serr != nil {
			return nil, fmt.Errorf("login5: waiting to retry after %w: %w", err, serr)
		}
	}
}

// retriable says whether another attempt may succeed.
func retriable(err error) bool {
	var le *LoginError
	if errors.As(err, &le) {
		return le.Temporary()
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code >= 500 || se.Code == http.StatusTooManyRequests
	}
	return !errors.Is(err, ErrUnsupportedChallenge) && !errors.Is(err, errBadChallenge)
}

var errBadChallenge = errors.New("login5: malformed challenge")

// attempt is one login: the request, and the answers to any challenges.
func (c *Client) attempt(ctx context.Context, cred []byte) (*pb.LoginOk, error) {
	clientToken, err := c.cfg.ClientToken.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("login5: %w", err)
	}
	req := &pb.LoginRequest{
		ClientInfo: &pb.ClientInfo{ClientId: c.cfg.ClientID, DeviceId: c.cfg.DeviceID},
		LoginMethod: &pb.LoginRequest_StoredCredential{StoredCredential: &credentialspb.StoredCredential{
			Username: c.Username(),
			Data:     cred,
		}},
	}
	for round := 0; ; round++ {
		resp, err := c.post(ctx, clientToken, req)
		if err != nil {
			return nil, err
		}
		if ok := resp.GetOk(); ok != nil {
			return ok, nil
		}
		if _, isErr := resp.GetResponse().(*pb.LoginResponse_Error); isErr {
			return nil, &LoginError{Code: resp.GetError()}
		}
		// parseResponse let only ok, error and challenges through.
		if round >= maxChallengeRounds {
			return nil, fmt.Errorf("login5: still challenged after %d answers", round)
		}
		start := c.cfg.Now()
		sols, err := solve(ctx, resp)
		if err != nil {
			return nil, err
		}
		took := c.cfg.Now().Sub(start)
		for _, s := range sols.GetSolutions() {
			if h := s.GetHashcash(); h != nil {
				h.Duration = durationpb.New(took)
			}
		}
		c.cfg.Log.Debug("login5 hashcash solved", "took", took)
		req.LoginContext = resp.GetLoginContext()
		req.ChallengeSolutions = sols
	}
}

// solve answers every challenge of resp, or says why it cannot.
func solve(ctx context.Context, resp *pb.LoginResponse) (*pb.ChallengeSolutions, error) {
	if len(resp.GetLoginContext()) == 0 {
		return nil, fmt.Errorf("%w: challenges without a login_context", errBadChallenge)
	}
	var sols []*pb.ChallengeSolution
	for _, ch := range resp.GetChallenges().GetChallenges() {
		switch {
		case ch.GetHashcash() != nil:
			hc := ch.GetHashcash()
			suffix, err := SolveHashcash(ctx, resp.GetLoginContext(), hc.GetPrefix(), int(hc.GetLength()))
			if err != nil {
				return nil, fmt.Errorf("login5: %w", err)
			}
			sols = append(sols, &pb.ChallengeSolution{Solution: &pb.ChallengeSolution_Hashcash{
				Hashcash: &challengespb.HashcashSolution{Suffix: suffix},
			}})
		case ch.GetCode() != nil:
			return nil, fmt.Errorf("%w: code by %v", ErrUnsupportedChallenge, ch.GetCode().GetMethod())
		default:
			return nil, fmt.Errorf("%w: empty challenge", errBadChallenge)
		}
	}
	if len(sols) == 0 {
		return nil, fmt.Errorf("%w: no challenges listed", errBadChallenge)
	}
	return &pb.ChallengeSolutions{Solutions: sols}, nil
}

func (c *Client) post(ctx context.Context, clientToken string, msg *pb.LoginRequest) (*pb.LoginResponse, error) {
	body, err := proto.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("login5: marshal request: %w", err)
	}
	var extra http.Header
	if clientToken != "" {
		extra = http.Header{"Client-Token": {clientToken}}
	}
	resp, err := protopost.Do(ctx, c.cfg.HTTP, "login5", c.cfg.URL, body, extra)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		se := &StatusError{Code: resp.Status, Body: resp.Snippet()}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			se.RetryAfter = time.Duration(min(s, 3600)) * time.Second
		}
		return nil, se
	}
	return parseResponse(resp.Body)
}

// parseResponse decodes a LoginResponse and lets through only one that has
// a usable ok, an error, or challenges. It never panics, whatever the bytes.
func parseResponse(b []byte) (*pb.LoginResponse, error) {
	var r pb.LoginResponse
	if err := proto.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("login5: decode response: %w", err)
	}
	switch v := r.GetResponse().(type) {
	case *pb.LoginResponse_Ok:
		if v.Ok.GetAccessToken() == "" {
			return nil, errors.New("login5: ok without an access token")
		}
		if v.Ok.GetUsername() == "" {
			return nil, errors.New("login5: ok without a username")
		}
	case *pb.LoginResponse_Error:
	case *pb.LoginResponse_Challenges:
		if v.Challenges == nil {
			return nil, fmt.Errorf("%w: empty challenges", errBadChallenge)
		}
	default:
		return nil, errors.New("login5: response has neither ok, error nor challenges")
	}
	return &r, nil
}

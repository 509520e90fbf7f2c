// Package spclient talks to Spotify's spclient service over HTTPS: the
// connect-state calls that keep this device in every app's device list, a
// publisher that spaces and coalesces those calls, and the context-resolve,
// page and autoplay lookups the Connect state machine needs.
//
// Every call goes through one request helper (Client.Do) with one retry
// policy: the body is rebuilt for every attempt, server errors (5xx) and
// transport errors are retried with jittered backoff until a deadline, a 401
// forces exactly one token refresh, a 429 carries its Retry-After, and any
// other 4xx is final. go-librespot v0.7.4's helper resent an empty body after
// a 401 and retried nothing but 401 and 502; this one is written against
// those two defects.
package spclient

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/speakerbox/speakerbox/internal/ctxsleep"
)

// TokenFunc returns a login5 access token. force asks for a fresh one even
// when the cached token looks valid (the server has just refused it).
type TokenFunc func(ctx context.Context, force bool) (string, error)

// ClientTokenFunc returns the client token, or "" when there is none (the
// header is then left out rather than sent empty).
type ClientTokenFunc func(ctx context.Context) (string, error)

// Defaults for Config's zero values.
const (
	DefaultDeadline    = 30 * time.Second
	DefaultMinBackoff  = 250 * time.Millisecond
	DefaultMaxBackoff  = 8 * time.Second
	MaxResponseBytes   = 16 << 20
	maxErrorBodyLogged = 512
	// MaxRetryAfter bounds a server's Retry-After: an absurd value (a day)
	// must not silence the speaker.
	MaxRetryAfter = 10 * time.Minute
)

// Config configures a Client.
type Config struct {
	// HTTPClient sends every request (tests route it to a fake).
	HTTPClient *http.Client
	// Addr is the spclient address as apresolve gives it, "host:port".
	Addr string
	// DeviceID is this device's id (40 hex characters in production).
	DeviceID string
	// Token gives the login5 bearer token; required.
	Token TokenFunc
	// ClientToken gives the Client-Token header; nil sends none.
	ClientToken ClientTokenFunc
	Log         *slog.Logger

	// Deadline bounds the retries of a call whose context has no deadline
	// (default DefaultDeadline).
	Deadline time.Duration
	// Backoff between attempts doubles from MinBackoff up to MaxBackoff and
	// is jittered to between half and all of that.
	MinBackoff, MaxBackoff time.Duration
	// Now is the clock (time.Now by default).
	Now func() time.Time
	// Sleep waits d or until ctx is done (a timer by default). Tests inject
	// one that advances a fake clock instead of sleeping.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a value in [0,1) (rand.Float64 by default).
	Jitter func() float64
}

// Client is a spclient connection. It is safe for concurrent use.
type Client struct {
	http        *http.Client
	base        *url.URL
	deviceID    string
	token       TokenFunc
	clientToken ClientTokenFunc
	log         *slog.Logger
	deadline    time.Duration
	minBackoff  time.Duration
	maxBackoff  time.Duration
	now         func() time.Time
	sleep       func(ctx context.Context, d time.Duration) error
	jitter      func() float64
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.HTTPClient == nil {
		return nil, errors.New("spclient: Config.HTTPClient is nil")
	}
	if cfg.Token == nil {
		return nil, errors.New("spclient: Config.Token is nil")
	}
	if cfg.Addr == "" || strings.ContainsAny(cfg.Addr, "/?#@ ") {
		return nil, fmt.Errorf("spclient: Config.Addr %q: want host:port", cfg.Addr)
	}
	base, err := url.Parse("https://" + cfg.Addr + "/")
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("spclient: Config.Addr %q: want host:port", cfg.Addr)
	}
	if cfg.DeviceID == "" || strings.ContainsAny(cfg.DeviceID, "/?#%") {
		return nil, fmt.Errorf("spclient: Config.DeviceID %q: want the device id", cfg.DeviceID)
	}
	c := &Client{
		http:        cfg.HTTPClient,
		base:        base,
		deviceID:    cfg.DeviceID,
		token:       cfg.Token,
		clientToken: cfg.ClientToken,
		log:         cfg.Log,
		deadline:    cfg.Deadline,
		minBackoff:  cfg.MinBackoff,
		maxBackoff:  cfg.MaxBackoff,
		now:         cfg.Now,
		sleep:       cfg.Sleep,
		jitter:      cfg.Jitter,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.deadline <= 0 {
		c.deadline = DefaultDeadline
	}
	if c.minBackoff <= 0 {
		c.minBackoff = DefaultMinBackoff
	}
	if c.maxBackoff < c.minBackoff {
		c.maxBackoff = max(DefaultMaxBackoff, c.minBackoff)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = ctxsleep.Sleep
	}
	if c.jitter == nil {
		c.jitter = rand.Float64
	}
	return c, nil
}

// DeviceID is the device id the client was made for.
func (c *Client) DeviceID() string { return c.deviceID }

// RateLimitPolicy says what Do does with a 429.
type RateLimitPolicy int

const (
	// WaitRetryAfter waits out a 429's Retry-After and tries again when the
	// wait ends before the deadline; otherwise Do returns the *StatusError.
	WaitRetryAfter RateLimitPolicy = iota
	// ReturnRateLimit returns a 429 at once as a *StatusError carrying the
	// wait. The publisher uses it: it keeps coalescing newer states during
	// the cooldown instead of holding an old body in a sleeping request.
	ReturnRateLimit
)

// Request is one spclient call.
type Request struct {
	Method string
	// Path is relative to the spclient base URL and may carry a query
	// ("connect-state/v1/devices/x/inactive?notify=false"); the query is sent
	// exactly as given.
	Path   string
	Header http.Header
	// Body is sent with Content-Type application/x-protobuf; nil sends no
	// body. It is re-read from the start for every attempt.
	Body      []byte
	RateLimit RateLimitPolicy
}

// Response is a successful (2xx) answer with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// StatusError is an answer other than 2xx that Do did not (or no longer)
// retry.
type StatusError struct {
	Method, Path string
	Status       int
	// ErrorType and Message come from the JSON error body
	// {"error_type": ..., "message": ...} when the server sent one.
	ErrorType, Message string
	// RetryAfter is the server's Retry-After (429, 503), capped at
	// MaxRetryAfter; 0 when it sent none.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("spclient %s %s: status %d", e.Method, e.Path, e.Status)
	if e.ErrorType != "" || e.Message != "" {
		s += fmt.Sprintf(" (%s: %s)", e.ErrorType, e.Message)
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(", retry after %s", e.RetryAfter)
	}
	return s
}

// Temporary reports whether the same request may succeed later: 401 (the
// token may be renewed), 408, 429 and every 5xx.
func (e *StatusError) Temporary() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusRequestTimeout ||
		e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// retryable is an attempt's failure that the next attempt may fix.
type retryable struct {
	err  error
	wait time.Duration // the server's Retry-After, if any
}

// Do sends r with the retry policy described in the package doc. Its result
// is a 2xx Response, a *StatusError, or an error from the token functions,
// the context or the transport (the last one after the deadline ran out).
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	if r.Method == "" {
		r.Method = http.MethodGet
	}
	u, err := c.resolve(r.Path)
	if err != nil {
		return nil, err
	}
	deadline := c.now().Add(c.deadline)
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	} else {
		// The injected clock decides when to give up between attempts; this
		// bounds a single attempt that hangs.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.deadline)
		defer cancel()
	}

	forced := false
	for attempt := 1; ; attempt++ {
		resp, fail, err := c.attempt(ctx, r, u, forced)
		if err != nil {
			return nil, err
		}
		if fail == nil {
			return resp, nil
		}
		var se *StatusError
		if errors.As(fail.err, &se) && se.Status == http.StatusUnauthorized {
			if forced {
				return nil, se
			}
			// One forced refresh, sent at once: a token that was refused
			// is not helped by waiting.
			forced = true
			c.log.Debug("spclient token refused; refreshing it once", "path", u.Path, "attempt", attempt)
			continue
		}
		wait := c.backoff(attempt)
		if fail.wait > wait {
			wait = fail.wait
		}
		if se != nil && se.Status == http.StatusTooManyRequests && r.RateLimit == ReturnRateLimit {
			return nil, se
		}
		if c.now().Add(wait).After(deadline) {
			if se != nil {
				return nil, se
			}
			return nil, fmt.Errorf("spclient %s %s: giving up after %d attempts: %w", r.Method, u.Path, attempt, fail.err)
		}
		c.log.Debug("spclient request failed; retrying", "method", r.Method, "path", u.Path,
			"attempt", attempt, "wait", wait, "err", fail.err)
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("spclient %s %s: %w (after: %v)", r.Method, u.Path, err, fail.err)
		}
	}
}

// backoff is the jittered wait after the n-th failed attempt.
func (c *Client) backoff(n int) time.Duration {
	d := c.minBackoff
	for i := 1; i < n && d < c.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.maxBackoff)
	return d/2 + time.Duration(c.jitter()*float64(d/2))
}

// resolve joins a relative path (with its query kept verbatim) to the base.
func (c *Client) resolve(p string) (*url.URL, error) {
	p = strings.TrimLeft(p, "/")
	u, err := url.Parse(c.base.String() + p)
	if err != nil {
		return nil, fmt.Errorf("spclient: bad request path %q: %w", p, err)
	}
	if u.Host != c.base.Host || u.Scheme != "https" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("spclient: bad request path %q", p)
	}
	return u, nil
}

// attempt sends r once. A nil *retryable and nil error mean success; a
// *retryable is a failure the loop decides about; an error is final.
func (c *Client) attempt(ctx context.Context, r Request, u *url.URL, force bool) (*Response, *retryable, error) {
	token, err := c.token(ctx, force)
	if err != nil {
		return nil, nil, fmt.Errorf("spclient %s %s: access token: %w", r.Method, u.Path, err)
	}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
	if err != nil {
		return nil, nil, fmt.Errorf("spclient %s %s: %w", r.Method, u.Path, err)
	}
	// NewRequest sets GetBody for a *bytes.Reader, so the transport can
	// replay it too; our own retries build a new reader above.
	for k, v := range r.Header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/x-protobuf")
	}
	if c.clientToken != nil {
		ct, err := c.clientToken(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("spclient %s %s: client token: %w", r.Method, u.Path, err)
		}
		if ct != "" {
			req.Header.Set("Client-Token", ct)
		}
	}

	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("spclient %s %s: %w", r.Method, u.Path, ctx.Err())
		}
		// A certificate not valid at the system clock's time: the next
		// attempts, seconds later, would fail the same way. The caller
		// waits for the clock instead.
		var ce x509.CertificateInvalidError
		if errors.As(err, &ce) && ce.Reason == x509.Expired {
			return nil, nil, fmt.Errorf("spclient %s %s: %w", r.Method, u.Path, err)
		}
		return nil, &retryable{err: err}, nil
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("spclient %s %s: %w", r.Method, u.Path, ctx.Err())
		}
		return nil, &retryable{err: fmt.Errorf("read answer: %w", err)}, nil
	}
	if len(b) > MaxResponseBytes {
		return nil, nil, fmt.Errorf("spclient %s %s: answer longer than %d bytes", r.Method, u.Path, MaxResponseBytes)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil, nil
	}

	se := &StatusError{Method: r.Method, Path: u.Path, Status: resp.StatusCode}
	var jb struct {
		ErrorType string `json:"error_type"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(b, &jb) == nil {
		se.ErrorType, se.Message = jb.ErrorType, jb.Message
	}
	if ra, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
		se.RetryAfter = ra
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusTooManyRequests,
		resp.StatusCode >= 500:
		return nil, &retryable{err: se, wait: se.RetryAfter}, nil
	}
	if len(b) > maxErrorBodyLogged {
		b = b[:maxErrorBodyLogged]
	}
	c.log.Debug("spclient request refused", "method", r.Method, "path", u.Path, "status", resp.StatusCode, "body", string(b))
	return nil, nil, se
}

// ParseRetryAfter reads a Retry-After header in either form (delay seconds or
// an HTTP date, RFC 9110 §10.2.3) as a wait from now, capped at MaxRetryAfter.
// A date in the past is a wait of 0. ok is false for an absent or unreadable
// header.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(MaxRetryAfter/time.Second) { // only too large
			return MaxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Sub(now)
	return min(max(d, 0), MaxRetryAfter), true
}

// Package dealer is the client of Spotify's dealer: the websocket over which
// Spotify pushes messages (cluster updates, volume, logout) and the apps'
// commands (requests) to a Connect device, and over which the device
// answers each request.
//
// A Dealer keeps one connection up for as long as Run runs: it pings every
// 30 s, notices a dead connection within 60 s, reconnects with jittered
// backoff capped at a minute and never gives up. After an upgrade refused
// with 401 or 403 it asks for a fresh token (Token with force=true). All it
// learns arrives on one channel, Events, in order: a ConnectionID after each
// (re)connect, Messages, Requests and a Disconnected when a connection ends.
//
// The consumer never stalls the connection: Run queues events for it (up to
// QueueLimit messages and requests; beyond that a message is dropped and a
// request answered with failure, both logged), while pings, pongs and
// replies go on. Every request gets exactly one reply: the consumer's, or a
// failure when ReplyTimeout passes first (a request repeating the key of one
// still waiting is ignored; a request whose connection is gone, or that was
// answered by its deadline while queued, is not delivered). Malformed frames
// are logged and dropped; a malformed request that names its key is
// answered with failure.
//
// Closing is cancelling Run's context: Run then closes the socket without a
// close handshake, waits for its goroutines and returns, also in the middle
// of a backoff or a dial.
package dealer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Config configures a Dealer. Client, Addr and Token are required; every
// other field has a default.
type Config struct {
	// Client carries the upgrade request (its Transport decides where
	// "dealer.spotify.com:443" really goes and which CAs are trusted).
	Client *http.Client
	// Addr returns the dealer's host:port (from apresolve); called before
	// every connection attempt.
	Addr func(ctx context.Context) (string, error)
	// Token returns the access token (login5); called before every
	// connection attempt, with force=true after an upgrade refused with 401
	// or 403, when the cached token evidently no longer works. It must
	// return when ctx ends.
	Token func(ctx context.Context, force bool) (string, error)
	Log   *slog.Logger

	// PingInterval: a ping every 30 s by default. A connection silent for a
	// whole interval after a ping is dead, so a dead one is noticed within
	// two intervals.
	PingInterval time.Duration
	// ReplyTimeout: a request the consumer has not answered after this long
	// (5 s by default) is answered with failure.
	ReplyTimeout time.Duration
	// Backoff between connection attempts, exponential from MinBackoff
	// (1 s) to MaxBackoff (60 s), each wait drawn from the upper half.
	MinBackoff, MaxBackoff time.Duration
	// DialTimeout bounds one upgrade (10 s); WriteTimeout one frame (10 s).
	DialTimeout, WriteTimeout time.Duration
	// MaxFrame bounds a frame read (8 MiB) and MaxPayload a decoded payload
	// (16 MiB); larger ones are dropped with a log.
	MaxFrame, MaxPayload int64
	// QueueLimit bounds the messages and requests waiting for the consumer
	// (256).
	QueueLimit int

	// Time, replaceable by tests; each defaults to the real clock. A hook
	// must not call back into the dealer synchronously.
	//
	// After waits out a backoff (time.After).
	After func(d time.Duration) <-chan time.Time
	// PingTicker returns one connection's ping ticks and a stop func
	// (time.NewTicker); called once per connection.
	PingTicker func(d time.Duration) (ticks <-chan time.Time, stop func())
	// AfterFunc arms a request's reply deadline (time.AfterFunc).
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	// Jitter returns a value in [0,1) (rand.Float64).
	Jitter func() float64

	// DialFailed, if set, is told of every failed connection attempt, on
	// Run's goroutine (it must not block). When it returns true the
	// failure is its owner's business: the dealer logs it at debug level
	// only and makes no further attempt until Run ends. The receiver
	// takes certificate-time errors so: a wrong system clock is not
	// helped by a backoff, and it drops the whole chain to wait for the
	// clock.
	DialFailed func(err error) bool
}

// Dealer is the dealer client. Create it with New, start it with Run and
// read Events.
type Dealer struct {
	cfg    Config
	events chan Event
	ran    atomic.Bool
}

// New checks cfg and fills in its defaults.
func New(cfg Config) (*Dealer, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("dealer: Config.Client is nil; an *http.Client is required")
	case cfg.Addr == nil:
		return nil, errors.New("dealer: Config.Addr is nil; an address func is required")
	case cfg.Token == nil:
		return nil, errors.New("dealer: Config.Token is nil; a token func is required")
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"PingInterval", &cfg.PingInterval, 30 * time.Second},
		{"ReplyTimeout", &cfg.ReplyTimeout, 5 * time.Second},
		{"MinBackoff", &cfg.MinBackoff, time.Second},
		{"MaxBackoff", &cfg.MaxBackoff, time.Minute},
		{"DialTimeout", &cfg.DialTimeout, 10 * time.Second},
		{"WriteTimeout", &cfg.WriteTimeout, 10 * time.Second},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return nil, fmt.Errorf("dealer: Config.%s is %s; allowed: a positive duration, or 0 for %s", d.name, *d.v, d.def)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		return nil, fmt.Errorf("dealer: Config.MaxBackoff %s is below MinBackoff %s", cfg.MaxBackoff, cfg.MinBackoff)
	}
	sizes := []struct {
		name string
		v    *int64
		def  int64
	}{
		{"MaxFrame", &cfg.MaxFrame, 8 << 20},
		{"MaxPayload", &cfg.MaxPayload, 16 << 20},
	}
	for _, s := range sizes {
		if *s.v < 0 {
			return nil, fmt.Errorf("dealer: Config.%s is %d; allowed: a positive byte count, or 0 for %d", s.name, *s.v, s.def)
		}
		if *s.v == 0 {
			*s.v = s.def
		}
	}
	if cfg.QueueLimit < 0 {
		return nil, fmt.Errorf("dealer: Config.QueueLimit is %d; allowed: a positive count, or 0 for 256", cfg.QueueLimit)
	}
	if cfg.QueueLimit == 0 {
		cfg.QueueLimit = 256
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.PingTicker == nil {
		cfg.PingTicker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	if cfg.AfterFunc == nil {
		cfg.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	return &Dealer{cfg: cfg, events: make(chan Event)}, nil
}

// Events is the one stream of everything the dealer learns. Run closes it
// when it returns.
func (d *Dealer) Events() <-chan Event { return d.events }

// UpgradeError is a websocket upgrade the dealer refused with an HTTP status.
type UpgradeError struct {
	Status int
}

func (e *UpgradeError) Error() string {
	return fmt.Sprintf("upgrade refused with HTTP status %d", e.Status)
}

// authRefused reports whether err says the token was not accepted.
func authRefused(err error) bool {
	var ue *UpgradeError
	return errors.As(err, &ue) && (ue.Status == http.StatusUnauthorized || ue.Status == http.StatusForbidden)
}

type dialResult struct {
	ws  *websocket.Conn
	err error
}

// Run keeps a dealer connection up until ctx ends, then returns nil once the
// connection is closed and every goroutine has stopped. Call it once; it
// closes Events on return. Events still queued then are dropped.
func (d *Dealer) Run(ctx context.Context) error {
	if !d.ran.CompareAndSwap(false, true) {
		return errors.New("dealer: Run called twice")
	}
	defer close(d.events)
	log := d.cfg.Log

	var (
		in       = make(chan incoming)
		queue    []incoming
		queued   int // messages and requests in queue
		c        *conn
		dialing  chan dialResult
		cancel   context.CancelFunc = func() {}
		wait     <-chan time.Time
		failures int
		force    bool
	)
	startDial := func() {
		dctx, cf := context.WithCancel(ctx)
		cancel = cf
		ch := make(chan dialResult, 1)
		dialing = ch
		forceNow := force
		go func() {
			ws, err := d.dial(dctx, forceNow)
			ch <- dialResult{ws, err}
		}()
	}
	retryLater := func(why error) {
		failures++
		delay := d.backoff(failures)
		log.Warn("dealer not connected; retrying", "err", why, "retry_in", delay.Round(time.Millisecond), "fresh_token", force)
		wait = d.cfg.After(delay)
	}
	enqueue := func(x incoming) {
		switch ev := x.ev.(type) {
		case Message, Request:
			if queued >= d.cfg.QueueLimit {
				if req, ok := ev.(Request); ok {
					log.Warn("dealer events not read; answering a request with failure", "key", req.Key, "queued", queued)
					x.reply.finish(false)
				} else {
					log.Warn("dealer events not read; dropping a message", "uri", ev.(Message).URI, "queued", queued)
				}
				return
			}
			queued++
		}
		queue = append(queue, x)
	}
	pop := func() {
		if _, ok := queue[0].ev.(ConnectionID); !ok {
			if _, ok := queue[0].ev.(Disconnected); !ok {
				queued--
			}
		}
		queue[0] = incoming{}
		queue = queue[1:]
	}

	startDial()
	defer func() {
		cancel()
		if dialing != nil {
			if r := <-dialing; r.ws != nil {
				_ = r.ws.CloseNow()
			}
		}
		if c != nil {
			c.wait()
		}
	}()

	for {
		// A request already answered (by its deadline, or because its
		// connection is gone) must not be carried out any more.
		for len(queue) > 0 && queue[0].reply != nil && queue[0].reply.done.Load() {
			log.Warn("dropping a dealer request answered before it was read", "key", queue[0].ev.(Request).Key)
			pop()
		}
		var out chan<- Event
		var head Event
		if len(queue) > 0 {
			out, head = d.events, queue[0].ev
		}
		var connDone <-chan struct{}
		if c != nil {
			connDone = c.done
		}

		select {
		case <-ctx.Done():
			return nil

		case out <- head:
			pop()

		case x := <-in:
			enqueue(x)

		case r := <-dialing:
			dialing = nil
			cancel()
			if r.err != nil {
				if d.cfg.DialFailed != nil && d.cfg.DialFailed(r.err) {
					log.Debug("dealer not connected; the owner takes over", "err", r.err)
					continue
				}
				force = authRefused(r.err)
				retryLater(r.err)
				continue
			}
			force = false
			c = newConn(ctx, &d.cfg, log, r.ws, in)
			log.Info("dealer connected")

		case <-connDone:
			c.wait()
			err := c.err
			if c.named.Load() {
				// It was a working connection: start the backoff over,
				// but still wait a little, against a server that
				// accepts and drops at once.
				failures = 0
			}
			c = nil
			enqueue(incoming{ev: Disconnected{Err: err}})
			retryLater(fmt.Errorf("connection lost: %w", err))

		case <-wait:
			wait = nil
			startDial()
		}
	}
}

// dial makes one connection attempt.
func (d *Dealer) dial(ctx context.Context, force bool) (*websocket.Conn, error) {
	addr, err := d.cfg.Addr(ctx)
	if err != nil {
		return nil, fmt.Errorf("dealer address: %w", err)
	}
	token, err := d.cfg.Token(ctx, force)
	if err != nil {
		return nil, fmt.Errorf("dealer token: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.DialTimeout)
	defer cancel()
	u := "wss://" + addr + "/?access_token=" + url.QueryEscape(token)
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: d.cfg.Client})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, fmt.Errorf("dial dealer %s: %w", addr, &UpgradeError{Status: resp.StatusCode})
		}
		return nil, fmt.Errorf("dial dealer %s: %w", addr, redactDialError(err, token))
	}
	return ws, nil
}

// redactDialError keeps the access token out of an error (and so out of
// every log): the HTTP client's errors quote the URL, query included.
func redactDialError(err error, token string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error's cause never holds the URL.
		return &redactedError{msg: redactToken(err.Error(), token), cause: ue.Err}
	}
	return &redactedError{msg: redactToken(err.Error(), token)}
}

func redactToken(s, token string) string {
	if token == "" {
		return s
	}
	s = strings.ReplaceAll(s, url.QueryEscape(token), "REDACTED")
	return strings.ReplaceAll(s, token, "REDACTED")
}

type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

// backoff is exponential from MinBackoff, capped at MaxBackoff, drawn from
// the upper half so that many speakers do not retry in step after a router
// restart.
func (d *Dealer) backoff(failures int) time.Duration {
	b := d.cfg.MinBackoff
	for i := 1; i < failures && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.cfg.MaxBackoff)
	return b/2 + time.Duration(float64(b/2)*d.cfg.Jitter())
}

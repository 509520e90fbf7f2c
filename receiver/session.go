package receiver

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/internal/redact"
	"github.com/speakerbox/speakerbox/receiver/apconn"
)

// Conn is one logged-in connection to Spotify's access point; see package
// apconn, which holds the seam so that the test fake need not import
// receiver.
type Conn = apconn.Conn

// Dialer logs in to Spotify (apconn.Dialer).
type Dialer = apconn.Dialer

// RejectedError is a login the access point refused for good
// (apconn.RejectedError).
type RejectedError = apconn.RejectedError

// SessionEvent tells the rest of the speaker (hooks, Connect state) about
// the login.
type SessionEvent struct {
	Kind     string // "session_connected" or "session_disconnected"
	Username string
	// Conn is the new connection on "session_connected" (nil otherwise):
	// what the Connect layer and track loading use for the country and
	// audio keys. It stays usable until the matching
	// "session_disconnected"; the session closes it.
	Conn Conn
}

// SessionConfig configures a Session.
type SessionConfig struct {
	Dialer Dialer
	// Accepted is told after every successful login: used is what the
	// session logged in with, reusable what the access point handed back
	// for the next login (its AuthData may be empty). The store keeps the
	// login as verified.
	Accepted func(used, reusable creds.Credentials) error
	// Rejected is told when the access point refused used for good; the
	// store drops it if no earlier login verified it.
	Rejected func(used creds.Credentials) error
	// Events receives session events; it must not block.
	Events func(SessionEvent)
	Log    *slog.Logger
	// Backoff bounds for failed logins; defaults 1 s and 5 min. There is no
	// give-up: a speaker that is offline for a day must log in when the
	// network returns.
	MinBackoff, MaxBackoff time.Duration
	// After is the clock (time.After in production).
	After func(time.Duration) <-chan time.Time
	// Jitter returns a value in [0,1) (rand.Float64 in production).
	Jitter func() float64
}

// Session keeps the speaker logged in: it logs in with the latest
// credentials, retries with jittered backoff for as long as it takes, logs in
// again when the connection drops, and switches user when a phone hands over
// new credentials. All state lives in the Run goroutine; other goroutines
// talk to it through a channel.
type Session struct {
	cfg  SessionConfig
	cmds chan sessionCmd
}

type sessionCmd struct {
	login  *creds.Credentials
	logout bool
}

// NewSession returns a Session; call Run to start it.
func NewSession(cfg SessionConfig) *Session {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	if cfg.Events == nil {
		cfg.Events = func(SessionEvent) {}
	}
	if cfg.Accepted == nil {
		cfg.Accepted = func(_, _ creds.Credentials) error { return nil }
	}
	if cfg.Rejected == nil {
		cfg.Rejected = func(creds.Credentials) error { return nil }
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Session{cfg: cfg, cmds: make(chan sessionCmd, 4)}
}

// Login hands over new credentials: the current user (if any) is logged out
// and the new one logged in. It does not block on the network.
func (s *Session) Login(ctx context.Context, c creds.Credentials) error {
	select {
	case s.cmds <- sessionCmd{login: &c}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Logout logs the current user out and waits for new credentials.
func (s *Session) Logout(ctx context.Context) error {
	select {
	case s.cmds <- sessionCmd{logout: true}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type dialResult struct {
	conn Conn
	err  error
}

// Run keeps the session until ctx ends. initial may be nil (no stored
// credentials: wait for a phone).
func (s *Session) Run(ctx context.Context, initial *creds.Credentials) error {
	var (
		login    = initial
		conn     Conn
		failures int
		dialing  chan dialResult
		cancel   context.CancelFunc = func() {}
		retry    <-chan time.Time
	)
	log := s.cfg.Log
	disconnect := func() {
		cancel()
		if dialing != nil {
			// Let the abandoned dial finish in the background and close
			// whatever it produced.
			go func(ch chan dialResult) {
				if r := <-ch; r.conn != nil {
					r.conn.Close()
				}
			}(dialing)
			dialing = nil
		}
		if conn != nil {
			user := conn.Username()
			// Close may block while the connection is mid-reconnect
			// (go-librespot v0.7.4), so it never runs on this goroutine.
			go conn.Close()
			conn = nil
			s.cfg.Events(SessionEvent{Kind: "session_disconnected", Username: user})
		}
		retry = nil
	}
	startDial := func() {
		dctx, c := context.WithCancel(ctx)
		cancel = c
		ch := make(chan dialResult, 1)
		dialing = ch
		cr := *login
		log.Info("logging in to Spotify", "user", redact.Username(cr.Username), "attempt", failures+1)
		go func() {
			c, err := s.cfg.Dialer.Dial(dctx, cr)
			ch <- dialResult{c, err}
		}()
	}
	defer disconnect()

	for {
		if login != nil && conn == nil && dialing == nil && retry == nil {
			startDial()
		}
		var connDone <-chan struct{}
		if conn != nil {
			connDone = conn.Done()
		}
		select {
		case <-ctx.Done():
			return nil

		case cmd := <-s.cmds:
			disconnect()
			failures = 0
			if cmd.logout {
				log.Info("logged out; waiting for a phone to connect")
				login = nil
			} else {
				login = cmd.login
			}

		case r := <-dialing:
			dialing = nil
			cancel()
			if r.err != nil {
				var rej *RejectedError
				if errors.As(r.err, &rej) {
					log.Error("Spotify refused the login; waiting for new credentials from a phone",
						"user", redact.Username(login.Username), "reason", rej.Reason)
					if err := s.cfg.Rejected(*login); err != nil {
						log.Error("could not drop the refused credentials", "err", err)
					}
					login = nil
					continue
				}
				failures++
				d := s.backoff(failures)
				log.Warn("login failed; will retry", "user", redact.Username(login.Username), "err", r.err, "retry_in", d.Round(time.Millisecond))
				retry = s.cfg.After(d)
				continue
			}
			conn, failures = r.conn, 0
			reusable := conn.Reusable()
			if reusable.Username == "" {
				reusable.Username = conn.Username()
			}
			if err := s.cfg.Accepted(*login, reusable); err != nil {
				log.Error("could not store the accepted credentials", "err", err)
			}
			if len(reusable.AuthData) > 0 {
				login = &reusable
			}
			log.Info("logged in to Spotify", "user", redact.Username(conn.Username()))
			s.cfg.Events(SessionEvent{Kind: "session_connected", Username: conn.Username(), Conn: conn})

		case <-retry:
			retry = nil

		case <-connDone:
			log.Warn("connection to Spotify lost; logging in again", "user", redact.Username(conn.Username()))
			disconnect()
		}
	}
}

// backoff is exponential from MinBackoff, capped at MaxBackoff, with up to
// 50% jitter so a house full of speakers does not retry in step after a
// router restart.
func (s *Session) backoff(failures int) time.Duration {
	d := s.cfg.MinBackoff
	for i := 1; i < failures && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxBackoff)
	return d/2 + time.Duration(float64(d/2)*s.cfg.Jitter())
}

package receiver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// wallClock is a wall clock the test sets. Every look at the clock the
// device schedules (a wait of clockPoll) is handed to the test, which fires
// it; any other wait (a backoff) is recorded and fires at once.
type wallClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
	polls chan chan time.Time
}

func newWallClock(now time.Time) *wallClock {
	return &wallClock{now: now, polls: make(chan chan time.Time, 64)}
}

func (c *wallClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *wallClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *wallClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	c.waits = append(c.waits, d)
	now := c.now
	c.mu.Unlock()
	if d == clockPoll {
		c.polls <- ch
		return ch
	}
	ch <- now
	return ch
}

func (c *wallClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// nextPoll waits for the device to schedule its next look at the clock.
func (c *wallClock) nextPoll(t *testing.T, ctx context.Context) chan time.Time {
	t.Helper()
	select {
	case ch := <-c.polls:
		return ch
	case <-ctx.Done():
		t.Fatalf("the device did not schedule a look at the clock: %v", ctx.Err())
		return nil
	}
}

// clockOpts runs the device on clk, with a backoff that can never be
// mistaken for a look at the clock, and TLS verified against clk when tls.
func clockOpts(clk *wallClock, floor time.Time, verifyAtClock bool) devEnvOpt {
	return func(c *DeviceConfig) {
		c.Now, c.After = clk.Now, clk.After
		c.ClockFloor = floor
		c.MinBackoff, c.MaxBackoff = 7*time.Second, 7*time.Second
		if verifyAtClock {
			tr := c.HTTP.Transport.(*http.Transport).Clone()
			tr.TLSClientConfig.Time = clk.Now
			c.HTTP = &http.Client{Transport: tr}
		}
	}
}

// noBackoffSpent: every wait the device asked for was a look at the clock,
// and the log never announced a backoff.
func noBackoffSpent(t *testing.T, e *devEnv, clk *wallClock) {
	t.Helper()
	for _, w := range clk.Waits() {
		if w != clockPoll {
			t.Errorf("the device waited %s (a backoff) while the clock was wrong; waits %v", w, clk.Waits())
		}
	}
	if strings.Contains(e.logs.String(), "reconnecting to Spotify later") {
		t.Errorf("the login backoff was spent on a wrong clock:\n%s", e.logs.String())
	}
	if strings.Contains(e.logs.String(), "attempt=2") {
		t.Errorf("a wrong clock counted as a failed attempt:\n%s", e.logs.String())
	}
}

// A clock before the floor (a Pi booting at 1970): the device says why it
// waits and makes no attempt, TLS or other, until the clock is set; then
// it logs in at once.
func TestDeviceWaitsForClockFloor(t *testing.T) {
	clk := newWallClock(time.Unix(5, 0))
	floor := time.Now().Add(-time.Hour).Truncate(time.Second)
	e := newDevEnv(t, clockOpts(clk, floor, false))

	poll := clk.nextPoll(t, e.ctx)
	want := fmt.Sprintf(`level=WARN msg=%q now=1970-01-01T00:00:05Z reason="before the last known time" last_known_time=%s`,
		ClockWrongMsg, floor.UTC().Format(time.RFC3339))
	if !strings.Contains(e.logs.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, e.logs.String())
	}
	// A look at an unchanged clock: still nothing tried, nothing logged
	// again.
	poll <- clk.Now()
	poll = clk.nextPoll(t, e.ctx)
	if dials, _ := e.dialer.state(); dials != 0 {
		t.Fatalf("%d login attempts with the clock at 1970", dials)
	}
	if len(e.f.Requests()) != 0 {
		t.Fatalf("HTTPS requests with the clock at 1970: %v", e.f.Requests())
	}
	if n := strings.Count(e.logs.String(), "level=WARN msg=\""+ClockWrongMsg); n != 1 {
		t.Errorf("the wrong clock was logged %d times, want once:\n%s", n, e.logs.String())
	}

	goesOnOnceSet(t, e, clk, poll)
}

// A certificate-time TLS error (the clock is within the floor, but Spotify's
// certificate is newer, or the clock is far ahead): logged plainly once, no
// backoff spent, and the device logs in as soon as the clock is right.
func TestDeviceWaitsOnCertificateTime(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start time.Time
		msg   string
		extra string
	}{
		{"not yet valid", time.Unix(5, 0), ClockWrongMsg, `reason="before the certificate's start of validity"`},
		{"expired", time.Now().AddDate(30, 0, 0), certExpiredMsg, "certificate_valid_until="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newWallClock(tc.start)
			e := newDevEnv(t, clockOpts(clk, time.Time{}, true))

			poll := clk.nextPoll(t, e.ctx)
			logs := e.logs.String()
			want := fmt.Sprintf("level=WARN msg=%q now=%s certificate_valid_from=", tc.msg, stamp(tc.start))
			if !strings.Contains(logs, want) || !strings.Contains(logs, tc.extra) || !strings.Contains(logs, "certificate_for=apresolve.spotify.com") {
				t.Errorf("log lacks %s ... %s:\n%s", want, tc.extra, logs)
			}
			poll <- clk.Now()
			poll = clk.nextPoll(t, e.ctx)
			if dials, _ := e.dialer.state(); dials != 1 {
				t.Fatalf("%d login attempts with the clock unchanged, want the first only", dials)
			}
			if n := strings.Count(e.logs.String(), "level=WARN msg=\""+tc.msg); n != 1 {
				t.Errorf("the certificate-time error was logged %d times, want once:\n%s", n, e.logs.String())
			}

			goesOnOnceSet(t, e, clk, poll)
		})
	}
}

// Other login failures still take the backoff.
func TestDeviceOtherFailuresBackOff(t *testing.T) {
	clk := newWallClock(time.Now())
	e := newDevEnvPre(t, func(e *devEnv) { e.dialer.fail = 1 }, clockOpts(clk, time.Now().Add(-time.Hour), false))
	if _, err := e.ds.WaitConnection(e.ctx, 1); err != nil {
		t.Fatal(err)
	}
	if w := clk.Waits(); len(w) == 0 || w[0] < 3500*time.Millisecond || w[0] >= 7*time.Second {
		t.Errorf("waits %v: want one backoff from [3.5s, 7s)", w)
	}
	if strings.Contains(e.logs.String(), "system clock") {
		t.Errorf("a refused connection was blamed on the clock:\n%s", e.logs.String())
	}
}

// The access point dialer's error carries the certificate-time error of
// apresolve, so the device recognises it on the dial path too.
func TestAPDialerCertificateTimeError(t *testing.T) {
	f := spotifytest.New(t)
	tr := f.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Time = func() time.Time { return time.Unix(5, 0) }
	d := &APDialer{DeviceID: devID, HTTP: &http.Client{Transport: tr}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := d.Dial(ctx, creds.Credentials{Username: "u", AuthType: creds.AuthStoredSpotify, AuthData: []byte("x")})
	ce, ok := certTimeError(err)
	if !ok {
		t.Fatalf("Dial error %v: not recognised as a certificate-time error", err)
	}
	if ce.Cert == nil || !time.Unix(5, 0).Before(ce.Cert.NotBefore) {
		t.Fatalf("certificate of the error: %+v", ce.Cert)
	}
}

func TestCertTimeErrorOnlyTime(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("resolve: %w", &tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Reason: x509.Expired}}), true},
		{fmt.Errorf("resolve: %w", x509.CertificateInvalidError{Reason: x509.NameMismatch}), false},
		{fmt.Errorf("resolve: %w", x509.UnknownAuthorityError{}), false},
		{errors.New("x509: certificate has expired or is not yet valid"), false}, // text alone proves nothing
		{nil, false},
	} {
		if _, got := certTimeError(tc.err); got != tc.want {
			t.Errorf("certTimeError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// lineWriter tells of every log line that contains match.
type lineWriter struct {
	match string
	seen  chan string
}

func (w lineWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.match) {
		w.seen <- string(p)
	}
	return len(p), nil
}

// A speaker with no login yet, at 1970: the log says at once why nothing
// will reach Spotify; the phone's login then waits for the clock.
func TestDeviceSaysClockWrongAtStart(t *testing.T) {
	clk := newWallClock(time.Unix(5, 0))
	floor := time.Now().Add(-time.Hour).Truncate(time.Second)
	seen := lineWriter{match: ClockWrongMsg, seen: make(chan string, 8)}
	e := newDevEnv(t, clockOpts(clk, floor, false), func(c *DeviceConfig) {
		c.Credentials = nil
		c.Log = slog.New(slog.NewTextHandler(seen, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	var line string
	select {
	case line = <-seen.seen:
	case <-e.ctx.Done():
		t.Fatal("nothing logged about the clock at start")
	}
	want := fmt.Sprintf(`level=WARN msg=%q now=1970-01-01T00:00:05Z reason="before the last known time" last_known_time=%s`,
		ClockWrongMsg, floor.UTC().Format(time.RFC3339))
	if !strings.Contains(line, want) {
		t.Errorf("logged %q, want %s", line, want)
	}
	e.must(e.dev.Login(e.ctx, creds.Credentials{Username: "u", AuthType: creds.AuthStoredSpotify, AuthData: []byte("b")}))
	poll := clk.nextPoll(t, e.ctx)
	if dials, _ := e.dialer.state(); dials != 0 {
		t.Fatalf("%d login attempts with the clock at 1970", dials)
	}
	// The wait is not a second warning.
	if l := <-seen.seen; !strings.Contains(l, "level=DEBUG") {
		t.Errorf("the wait logged %q, want it at debug level", l)
	}
	clk.Set(time.Now())
	poll <- clk.Now()
	if _, err := e.ds.WaitConnection(e.ctx, 1); err != nil {
		t.Fatal(err)
	}
}

// goesOnOnceSet sets the clock right and answers the device's pending look
// at it: the device logs that the clock is set, reaches the dealer, and
// has spent no backoff on the wait.
func goesOnOnceSet(t *testing.T, e *devEnv, clk *wallClock, poll chan<- time.Time) {
	t.Helper()
	clk.Set(time.Now())
	poll <- clk.Now()
	if _, err := e.ds.WaitConnection(e.ctx, 1); err != nil {
		t.Fatalf("no dealer connection once the clock was set: %v", err)
	}
	if !strings.Contains(e.logs.String(), ClockSetMsg) {
		t.Errorf("log lacks %q:\n%s", ClockSetMsg, e.logs.String())
	}
	noBackoffSpent(t, e, clk)
}

// certTimeTransport fails the requests to host with a certificate-time
// error while the test's clock is before notBefore, as TLS would with a
// certificate newer than the clock; the rest goes through.
type certTimeTransport struct {
	next      http.RoundTripper
	host      string
	clk       *wallClock
	notBefore time.Time
}

func (c certTimeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Hostname() == c.host && c.clk.Now().Before(c.notBefore) {
		cert := &x509.Certificate{NotBefore: c.notBefore, NotAfter: c.notBefore.AddDate(1, 0, 0), DNSNames: []string{c.host}}
		return nil, &tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Cert: cert, Reason: x509.Expired}}
	}
	return c.next.RoundTrip(r)
}

// The login and the services are fine but the dealer's certificate is
// newer than the clock (set back, or a renewed certificate): the chain is
// dropped and the device waits for the clock, logged plainly, with no
// dealer backoff and no login backoff; then it comes back at once.
func TestDealerCertificateTimeDropsTheChain(t *testing.T) {
	clk := newWallClock(time.Unix(5, 0))
	e := newDevEnv(t, clockOpts(clk, time.Time{}, false), func(c *DeviceConfig) {
		c.HTTP = &http.Client{Transport: certTimeTransport{next: c.HTTP.Transport, host: "dealer.test", clk: clk,
			notBefore: time.Now().Add(-time.Hour).Truncate(time.Second)}}
	})
	poll := clk.nextPoll(t, e.ctx)
	logs := e.logs.String()
	for _, want := range []string{
		"dropping the connection to Spotify's services: a certificate is not valid by the system clock",
		fmt.Sprintf("level=WARN msg=%q now=1970-01-01T00:00:05Z certificate_valid_from=", ClockWrongMsg),
		"certificate_for=dealer.test",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "dealer not connected; retrying") {
		t.Errorf("the dealer backed off against a wrong clock:\n%s", logs)
	}
	if n := e.ds.Connections(); n != 0 {
		t.Fatalf("%d dealer connections with the clock wrong", n)
	}
	goesOnOnceSet(t, e, clk, poll)
	if dials, _ := e.dialer.state(); dials != 2 {
		t.Errorf("%d logins, want 2 (the chain was dropped whole and built again)", dials)
	}
}

package spclient

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	"google.golang.org/protobuf/proto"
)

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every attempt after a 5xx carries the whole body again (v0.7.4 sent 0
// bytes), and the waits grow within their jitter bounds.
func TestPutStateRetries5xxWithTheBodyIntact(t *testing.T) {
	e := newEnv(t, nil)
	e.script.add(step{status: 503}, step{status: 500}, step{status: 502}, step{status: 504})
	req := testState(connectpb.PutStateReason_NEW_DEVICE, 1234)
	want := marshal(t, req)

	if _, err := e.c.PutState(context.Background(), "conn-1", req); err != nil {
		t.Fatal(err)
	}
	got := e.script.received()
	if len(got) != 5 {
		t.Fatalf("server got %d requests, want 5 (4 failures, then success)", len(got))
	}
	for i, r := range got {
		if !bytes.Equal(r.Body, want) {
			t.Errorf("attempt %d: body %d bytes, want the %d bytes of the request", i+1, len(r.Body), len(want))
		}
		if r.Method != http.MethodPut || r.Path != "/connect-state/v1/devices/"+testDeviceID {
			t.Errorf("attempt %d: %s %s", i+1, r.Method, r.Path)
		}
		if r.Header.Get("X-Spotify-Connection-Id") != "conn-1" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("attempt %d: headers %v", i+1, r.Header)
		}
	}
	puts := e.srv.ConnectStatePuts(testDeviceID)
	if len(puts) != 1 || !proto.Equal(puts[0].Request, req) {
		t.Fatalf("the fake recorded %d PUTs, want the request once", len(puts))
	}
	// Jitter 0.5: three quarters of 250 ms, 500 ms, 1 s, 2 s.
	wantSleeps := []time.Duration{187500 * time.Microsecond, 375 * time.Millisecond, 750 * time.Millisecond, 1500 * time.Millisecond}
	if s := e.tm.Sleeps(); !slices.Equal(s, wantSleeps) {
		t.Errorf("waits %v, want %v", s, wantSleeps)
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	for _, j := range []float64{0, 0.999999} {
		e := newEnv(t, func(c *Config) {
			c.MinBackoff, c.MaxBackoff = 100*time.Millisecond, time.Second
			c.Jitter = func() float64 { return j }
		})
		for n := 1; n <= 8; n++ {
			full := min(100*time.Millisecond<<(n-1), time.Second)
			d := e.c.backoff(n)
			if d < full/2 || d > full {
				t.Errorf("jitter %v attempt %d: wait %v outside [%v, %v]", j, n, d, full/2, full)
			}
		}
	}
}

// A 401 forces exactly one refresh, and the retry carries the same body
// with the new token.
func TestUnauthorizedRefreshesOnceAndResendsTheBody(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.SetAuthorize(func(tok string) bool { return tok == "tok-b" })
	req := testState(connectpb.PutStateReason_PLAYER_STATE_CHANGED, 7)
	want := marshal(t, req)

	if _, err := e.c.PutState(context.Background(), "conn-1", req); err != nil {
		t.Fatal(err)
	}
	if got := e.tk.calls(); !slices.Equal(got, []bool{false, true}) {
		t.Errorf("token calls (force) %v, want [false true]", got)
	}
	got := e.script.received()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	for i, tok := range []string{"Bearer tok-a", "Bearer tok-b"} {
		if got[i].Header.Get("Authorization") != tok {
			t.Errorf("attempt %d: Authorization %q, want %q", i+1, got[i].Header.Get("Authorization"), tok)
		}
		if !bytes.Equal(got[i].Body, want) {
			t.Errorf("attempt %d: body of %d bytes, want %d", i+1, len(got[i].Body), len(want))
		}
	}
	if len(e.tm.Sleeps()) != 0 {
		t.Errorf("waited %v before the refreshed attempt; a refused token is not helped by waiting", e.tm.Sleeps())
	}
	if p := e.srv.ConnectStatePuts(""); len(p) != 1 || !proto.Equal(p[0].Request, req) {
		t.Errorf("recorded PUTs %d, want the request once", len(p))
	}
}

func TestUnauthorizedTwiceIsFinal(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.SetAuthorize(func(string) bool { return false })
	_, err := e.c.PutState(context.Background(), "conn-1", testState(connectpb.PutStateReason_NEW_DEVICE, 1))
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
		t.Fatalf("err = %v, want a 401 StatusError", err)
	}
	if se.ErrorType != "UNAUTHORIZED" {
		t.Errorf("ErrorType %q: the JSON error body was not read", se.ErrorType)
	}
	if got := e.tk.calls(); !slices.Equal(got, []bool{false, true}) {
		t.Errorf("token calls %v, want exactly one forced refresh", got)
	}
	if n := len(e.script.received()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestRateLimited(t *testing.T) {
	now := newFakeTime().Now()
	for _, tc := range []struct {
		name, header string
		want         time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"http date", now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
	} {
		t.Run(tc.name+"/returned to the publisher", func(t *testing.T) {
			e := newEnv(t, nil)
			e.script.add(step{status: 429, retryAfter: tc.header, body: `{"error_type":"RATE_LIMITED","message":"slow down"}`})
			_, err := e.c.PutState(context.Background(), "c", testState(connectpb.PutStateReason_VOLUME_CHANGED, 1))
			var se *StatusError
			if !errors.As(err, &se) || se.Status != 429 || se.RetryAfter != tc.want {
				t.Fatalf("err = %v, want a 429 StatusError with RetryAfter %v", err, tc.want)
			}
			if se.Message != "slow down" {
				t.Errorf("Message %q", se.Message)
			}
			if n := len(e.script.received()); n != 1 || len(e.tm.Sleeps()) != 0 {
				t.Errorf("%d requests and waits %v: PutState must return a 429 at once", n, e.tm.Sleeps())
			}
		})
		t.Run(tc.name+"/waited within the deadline", func(t *testing.T) {
			e := newEnv(t, nil)
			e.srv.SetSpclientContext("spotify:album:x", &connectpb.Context{Uri: "spotify:album:x"})
			e.script.add(step{status: 429, retryAfter: tc.header})
			sc, err := e.c.ResolveContext(context.Background(), "spotify:album:x")
			if err != nil || sc.GetUri() != "spotify:album:x" {
				t.Fatalf("ResolveContext = %v, %v", sc, err)
			}
			if s := e.tm.Sleeps(); !slices.Equal(s, []time.Duration{tc.want}) {
				t.Errorf("waits %v, want [%v]", s, tc.want)
			}
		})
	}
	t.Run("beyond the deadline", func(t *testing.T) {
		e := newEnv(t, nil)
		e.script.add(step{status: 429, retryAfter: "120"})
		_, err := e.c.ResolveContext(context.Background(), "spotify:album:x")
		var se *StatusError
		if !errors.As(err, &se) || se.RetryAfter != 2*time.Minute {
			t.Fatalf("err = %v, want the 429 with its wait", err)
		}
		if len(e.tm.Sleeps()) != 0 {
			t.Errorf("waited %v past the 30 s deadline", e.tm.Sleeps())
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{" 12 ", 12 * time.Second, true},
		{"99999999999999999999", MaxRetryAfter, true},
		{"86400", MaxRetryAfter, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Thursday, 03-Dec-26 18:00:05 GMT", 5 * time.Second, true}, // RFC 850
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
	} {
		got, ok := ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestOther4xxNotRetried(t *testing.T) {
	for _, status := range []int{400, 403, 404, 409, 413} {
		e := newEnv(t, nil)
		e.script.add(step{status: status, body: `{"error_type":"BAD","message":"no"}`})
		_, err := e.c.PutState(context.Background(), "c", testState(connectpb.PutStateReason_NEW_DEVICE, 1))
		var se *StatusError
		if !errors.As(err, &se) || se.Status != status || se.ErrorType != "BAD" || se.Message != "no" || se.Temporary() {
			t.Errorf("%d: err = %v", status, err)
		}
		if n := len(e.script.received()); n != 1 || len(e.tm.Sleeps()) != 0 {
			t.Errorf("%d: %d requests, waits %v; want one request and no retry", status, n, e.tm.Sleeps())
		}
	}
}

// A server that answers 503 forever is retried until the next wait would
// pass the deadline, then the 503 comes back.
func TestServerErrorsRetriedUntilTheDeadline(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Deadline = 5 * time.Second })
	for range 100 {
		e.script.add(step{status: 503})
	}
	_, err := e.c.ResolveContext(context.Background(), "spotify:album:x")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 503 {
		t.Fatalf("err = %v, want the 503", err)
	}
	sleeps := e.tm.Sleeps()
	var total time.Duration
	for _, d := range sleeps {
		total += d
	}
	if total > 5*time.Second {
		t.Errorf("waited %v in all, past the 5 s deadline", total)
	}
	if next := e.c.backoff(len(sleeps) + 1); total+next <= 5*time.Second {
		t.Errorf("gave up after %v although the next wait (%v) fitted", total, next)
	}
	if n := len(e.script.received()); n != len(sleeps)+1 || n < 4 {
		t.Errorf("%d requests for %d waits", n, len(sleeps))
	}
}

// The caller's deadline wins over the configured one. (The context's
// deadline is real time, so here the fake clock starts at the real time; the
// 20 s budget is spent in fake waits, in a few milliseconds.)
func TestContextDeadlineBoundsRetries(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Deadline = time.Hour })
	e.tm.now = time.Now()
	for range 100 {
		e.script.add(step{status: 500})
	}
	ctx, cancel := context.WithDeadline(context.Background(), e.tm.Now().Add(20*time.Second))
	defer cancel()
	_, err := e.c.ResolveContext(ctx, "spotify:album:x")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 500 {
		t.Fatalf("err = %v", err)
	}
	var total time.Duration
	for _, d := range e.tm.Sleeps() {
		total += d
	}
	if total > 20*time.Second || total+e.c.backoff(len(e.tm.Sleeps())+1) <= 20*time.Second {
		t.Errorf("waits %v (%v in all) for a 20 s deadline", e.tm.Sleeps(), total)
	}
}

// The server closes the connection without answering: retried, with the body.
func TestTransportErrorRetried(t *testing.T) {
	e := newEnv(t, nil)
	e.script.add(step{drop: true}, step{drop: true})
	req := testState(connectpb.PutStateReason_NEW_DEVICE, 99)
	if _, err := e.c.PutState(context.Background(), "c", req); err != nil {
		t.Fatal(err)
	}
	got := e.script.received()
	if len(got) != 3 || len(e.tm.Sleeps()) != 2 {
		t.Fatalf("%d requests, waits %v; want 3 requests after 2 waits", len(got), e.tm.Sleeps())
	}
	want := marshal(t, req)
	for i, r := range got {
		if !bytes.Equal(r.Body, want) {
			t.Errorf("attempt %d: %d bytes, want %d", i+1, len(r.Body), len(want))
		}
	}
}

func TestHeaders(t *testing.T) {
	t.Run("no client token", func(t *testing.T) {
		e := newEnv(t, nil)
		if err := e.c.Inactive(context.Background(), "conn-9"); err != nil {
			t.Fatal(err)
		}
		r := e.script.received()[0]
		if _, ok := r.Header["Client-Token"]; ok {
			t.Error("an empty Client-Token header was sent")
		}
		if _, ok := r.Header["Content-Type"]; ok {
			t.Error("Content-Type sent without a body")
		}
		if r.Header.Get("Authorization") != "Bearer tok-a" {
			t.Errorf("Authorization %q", r.Header.Get("Authorization"))
		}
	})
	t.Run("client token", func(t *testing.T) {
		e := newEnv(t, func(c *Config) {
			c.ClientToken = func(context.Context) (string, error) { return "ct-1", nil }
		})
		if _, err := e.c.PutState(context.Background(), "c", testState(connectpb.PutStateReason_NEW_DEVICE, 1)); err != nil {
			t.Fatal(err)
		}
		if h := e.script.received()[0].Header.Get("Client-Token"); h != "ct-1" {
			t.Errorf("Client-Token %q", h)
		}
	})
	t.Run("empty client token", func(t *testing.T) {
		e := newEnv(t, func(c *Config) {
			c.ClientToken = func(context.Context) (string, error) { return "", nil }
		})
		if err := e.c.Inactive(context.Background(), "c"); err != nil {
			t.Fatal(err)
		}
		if _, ok := e.script.received()[0].Header["Client-Token"]; ok {
			t.Error("an empty Client-Token header was sent")
		}
	})
}

func TestInactive(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.c.Inactive(context.Background(), "conn-9"); err != nil {
		t.Fatal(err)
	}
	in := e.srv.ConnectStateInactives()
	if len(in) != 1 || in[0].DeviceID != testDeviceID || in[0].ConnectionID != "conn-9" || in[0].RawQuery != "notify=false" {
		t.Fatalf("inactive calls %+v", in)
	}
	if r := e.script.received()[0]; r.Method != http.MethodPut || len(r.Body) != 0 {
		t.Errorf("%s with %d body bytes", r.Method, len(r.Body))
	}
	if err := e.c.Inactive(context.Background(), ""); !errors.Is(err, ErrNoConnectionID) {
		t.Errorf("Inactive without a connection id: %v", err)
	}
}

func TestPutStateAnswerCluster(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.SetConnectStateCluster(&connectpb.Cluster{ActiveDeviceId: "other", ServerTimestampMs: 42})
	cl, err := e.c.PutState(context.Background(), "c", testState(connectpb.PutStateReason_NEW_DEVICE, 1))
	if err != nil || cl.GetActiveDeviceId() != "other" || cl.GetServerTimestampMs() != 42 {
		t.Fatalf("PutState = %v, %v", cl, err)
	}
	// A body that is not a Cluster: the state was accepted all the same.
	e.script.add(step{status: 200, body: "\xff\xff\xff"})
	cl, err = e.c.PutState(context.Background(), "c", testState(connectpb.PutStateReason_NEW_DEVICE, 1))
	if err != nil || cl == nil {
		t.Fatalf("PutState with an odd answer = %v, %v", cl, err)
	}
	if _, err := e.c.PutState(context.Background(), "", testState(connectpb.PutStateReason_NEW_DEVICE, 1)); !errors.Is(err, ErrNoConnectionID) {
		t.Errorf("no connection id: %v", err)
	}
	if _, err := e.c.PutState(context.Background(), "c", nil); err == nil {
		t.Error("nil request accepted")
	}
}

func TestTokenErrorIsFinal(t *testing.T) {
	boom := errors.New("login5 down")
	e := newEnv(t, func(c *Config) {
		c.Token = func(context.Context, bool) (string, error) { return "", boom }
	})
	_, err := e.c.ResolveContext(context.Background(), "spotify:album:x")
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if n := len(e.script.received()); n != 0 {
		t.Errorf("%d requests without a token", n)
	}
}

func TestNewChecksConfig(t *testing.T) {
	ok := Config{HTTPClient: http.DefaultClient, Addr: "spclient.test:443", DeviceID: testDeviceID,
		Token: func(context.Context, bool) (string, error) { return "", nil }}
	if _, err := New(ok); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*Config){
		"no client":   func(c *Config) { c.HTTPClient = nil },
		"no token":    func(c *Config) { c.Token = nil },
		"empty addr":  func(c *Config) { c.Addr = "" },
		"addr path":   func(c *Config) { c.Addr = "host/x" },
		"no device":   func(c *Config) { c.DeviceID = "" },
		"device path": func(c *Config) { c.DeviceID = "a/b" },
	} {
		c := ok
		edit(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A 503 with Retry-After waits that long rather than the shorter backoff.
func TestServerErrorHonoursRetryAfter(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.SetSpclientContext("spotify:album:x", &connectpb.Context{Uri: "spotify:album:x"})
	e.script.add(step{status: 503, retryAfter: "4"}, step{status: 502})
	if _, err := e.c.ResolveContext(context.Background(), "spotify:album:x"); err != nil {
		t.Fatal(err)
	}
	if s := e.tm.Sleeps(); !slices.Equal(s, []time.Duration{4 * time.Second, 375 * time.Millisecond}) {
		t.Errorf("waits %v, want [4s 375ms]", s)
	}
}

// A certificate not valid at the clock's time (TLS verified against a
// clock a century ahead) is final at once: retrying seconds later cannot
// help, and the receiver waits for the clock instead.
func TestCertificateTimeErrorNotRetried(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		tr := c.HTTPClient.Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Time = func() time.Time { return time.Now().AddDate(100, 0, 0) }
		c.HTTPClient = &http.Client{Transport: tr}
	})
	_, err := e.c.PutState(context.Background(), "c", testState(connectpb.PutStateReason_NEW_DEVICE, 1))
	var ce x509.CertificateInvalidError
	if !errors.As(err, &ce) || ce.Reason != x509.Expired {
		t.Fatalf("PutState = %v, want the certificate-time error in the chain", err)
	}
	if len(e.tm.Sleeps()) != 0 {
		t.Errorf("waits %v before giving up on a certificate-time error", e.tm.Sleeps())
	}
}

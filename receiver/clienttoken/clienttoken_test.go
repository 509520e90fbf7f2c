package clienttoken_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	librespot "github.com/devgianlu/go-librespot"
	pbhttp "github.com/devgianlu/go-librespot/proto/spotify/clienttoken/http/v0"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/receiver/clienttoken"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

const deviceID = "0123456789abcdef0123456789abcdef01234567"

// clock is a settable time source shared by a test and the client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClient(t *testing.T, f *spotifytest.Fake, clk *clock) *clienttoken.Client {
	t.Helper()
	c, err := clienttoken.New(clienttoken.Config{
		HTTP:     f.Client(),
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		DeviceID: deviceID,
		Now:      clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokenRequestAndCache(t *testing.T) {
	f := spotifytest.New(t)
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	c := newClient(t, f, clk)
	ctx := context.Background()

	tok, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	issued := f.ClientToken().Issued()
	if len(issued) != 1 || tok != issued[0] {
		t.Fatalf("token %q, fake issued %v", tok, issued)
	}
	again, err := c.Token(ctx)
	if err != nil || again != tok {
		t.Fatalf("second call: %q, %v; want the cached %q", again, err, tok)
	}
	if n := len(f.ClientToken().Issued()); n != 1 {
		t.Fatalf("%d requests for a cached token", n)
	}

	// What went over the wire.
	var rec spotifytest.Request
	for _, r := range f.Requests() {
		if r.Host == spotifytest.ClientTokenHost {
			rec = r
		}
	}
	if rec.Method != http.MethodPost || rec.Path != "/v1/clienttoken" || rec.Header.Get("Accept") != "application/x-protobuf" {
		t.Errorf("request %s %s Accept %q", rec.Method, rec.Path, rec.Header.Get("Accept"))
	}
	var req pbhttp.ClientTokenRequest
	if err := proto.Unmarshal(rec.Body, &req); err != nil {
		t.Fatal(err)
	}
	cd := req.GetClientData()
	if req.GetRequestType() != pbhttp.ClientTokenRequestType_REQUEST_CLIENT_DATA_REQUEST ||
		cd.GetClientId() != librespot.ClientIdHex || cd.GetClientId() != "65b708073fc0480ea92a077233ca87bd" ||
		cd.GetClientVersion() != clienttoken.DefaultClientVersion ||
		cd.GetConnectivitySdkData().GetDeviceId() != deviceID ||
		cd.GetConnectivitySdkData().GetPlatformSpecificData().GetDesktopLinux().GetSystemName() != "Linux" {
		t.Errorf("request body %v", &req)
	}
}

func TestRefreshAfterRefreshSeconds(t *testing.T) {
	f := spotifytest.New(t)
	f.ClientToken().SetLifetime(100, 60)
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	c := newClient(t, f, clk)
	ctx := context.Background()

	first, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(60*time.Second - time.Nanosecond)
	if tok, _ := c.Token(ctx); tok != first {
		t.Fatalf("refreshed before refresh_after_seconds")
	}
	clk.Add(time.Nanosecond)
	second, err := c.Token(ctx)
	if err != nil || second == first {
		t.Fatalf("at refresh_after_seconds: %q, %v; want a new token", second, err)
	}

	// A failed refresh keeps the current token until it expires, then fails.
	f.Knob(spotifytest.ClientTokenHost, "/").SetStatus(http.StatusServiceUnavailable, -1)
	clk.Add(60 * time.Second)
	if tok, err := c.Token(ctx); err != nil || tok != second {
		t.Fatalf("failed refresh before expiry: %q, %v; want the old %q", tok, err, second)
	}
	clk.Add(40 * time.Second)
	_, err = c.Token(ctx)
	var se *clienttoken.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
		t.Fatalf("failed refresh after expiry: %v, want a StatusError 503", err)
	}
	// The service comes back: a new token.
	f.Knob(spotifytest.ClientTokenHost, "/").Reset()
	if tok, err := c.Token(ctx); err != nil || tok == second || tok == "" {
		t.Fatalf("after recovery: %q, %v", tok, err)
	}
}

func TestStatusErrors(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusForbidden, http.StatusInternalServerError, http.StatusBadGateway} {
		f := spotifytest.New(t)
		f.Knob(spotifytest.ClientTokenHost, "/v1/clienttoken").SetStatus(code, 1)
		c := newClient(t, f, &clock{t: time.Unix(0, 0)})
		_, err := c.Token(context.Background())
		var se *clienttoken.StatusError
		if !errors.As(err, &se) || se.Code != code {
			t.Errorf("HTTP %d: err %v", code, err)
		}
		// Nothing was cached: the next call asks again and gets a token.
		if tok, err := c.Token(context.Background()); err != nil || tok == "" {
			t.Errorf("HTTP %d then 200: %q, %v", code, tok, err)
		}
	}
}

func TestDroppedConnection(t *testing.T) {
	f := spotifytest.New(t)
	f.Knob(spotifytest.ClientTokenHost, "/").DropNext(1)
	c := newClient(t, f, &clock{t: time.Unix(0, 0)})
	if _, err := c.Token(context.Background()); err == nil {
		t.Fatal("dropped connection gave no error")
	}
	if tok, err := c.Token(context.Background()); err != nil || tok == "" {
		t.Fatalf("after the drop: %q, %v", tok, err)
	}
}

func TestChallengeIsAClearError(t *testing.T) {
	f := spotifytest.New(t)
	f.ClientToken().SetChallenge(1)
	c := newClient(t, f, &clock{t: time.Unix(0, 0)})
	_, err := c.Token(context.Background())
	if !errors.Is(err, clienttoken.ErrChallenge) {
		t.Fatalf("err %v, want ErrChallenge", err)
	}
}

func TestConcurrentCallersShareOneRequest(t *testing.T) {
	f := spotifytest.New(t)
	c := newClient(t, f, &clock{t: time.Unix(0, 0)})
	var wg sync.WaitGroup
	toks := make([]string, 8)
	for i := range toks {
		wg.Go(func() {
			tok, err := c.Token(context.Background())
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
		})
	}
	wg.Wait()
	if n := len(f.ClientToken().Issued()); n != 1 {
		t.Fatalf("%d requests for 8 concurrent callers, want 1", n)
	}
	for _, tok := range toks {
		if tok != toks[0] {
			t.Fatalf("callers got different tokens: %v", toks)
		}
	}
}

func TestCancelledContext(t *testing.T) {
	f := spotifytest.New(t)
	f.Knob(spotifytest.ClientTokenHost, "/").SetDelay(time.Hour)
	c := newClient(t, f, &clock{t: time.Unix(0, 0)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Token(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := clienttoken.New(clienttoken.Config{DeviceID: deviceID}); err == nil {
		t.Error("nil HTTP accepted")
	}
	if _, err := clienttoken.New(clienttoken.Config{HTTP: http.DefaultClient}); err == nil {
		t.Error("empty DeviceID accepted")
	}
}

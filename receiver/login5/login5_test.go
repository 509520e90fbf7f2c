package login5_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	librespot "github.com/devgianlu/go-librespot"
	pb "github.com/devgianlu/go-librespot/proto/spotify/login5/v3"
	challengespb "github.com/devgianlu/go-librespot/proto/spotify/login5/v3/challenges"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/receiver/clienttoken"
	"github.com/speakerbox/speakerbox/receiver/login5"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

const deviceID = "0123456789abcdef0123456789abcdef01234567"

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

// sleeps records the waits the client asked for instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

type env struct {
	f   *spotifytest.Fake
	clk *clock
	sl  *sleeps
	c   *login5.Client
}

func setup(t *testing.T, mod func(*login5.Config)) *env {
	t.Helper()
	f := spotifytest.New(t)
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ct, err := clienttoken.New(clienttoken.Config{HTTP: f.Client(), Log: log, DeviceID: deviceID, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	sl := &sleeps{}
	cfg := login5.Config{
		HTTP:             f.Client(),
		Log:              log,
		ClientToken:      ct,
		DeviceID:         deviceID,
		Username:         spotifytest.DefaultUsername,
		StoredCredential: []byte(spotifytest.DefaultStoredCredential),
		Now:              clk.Now,
		Sleep:            sl.Sleep,
		Backoff:          func(n int) time.Duration { return time.Duration(n) * time.Second },
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := login5.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{f: f, clk: clk, sl: sl, c: c}
}

func (e *env) token(t *testing.T, force bool) string {
	t.Helper()
	tok, err := e.c.Token(context.Background(), force)
	if err != nil {
		t.Fatalf("Token(force=%v): %v", force, err)
	}
	if !e.f.Login5().Valid(tok) {
		t.Fatalf("token %q was not granted by the fake", tok)
	}
	return tok
}

func TestLoginRequestAndCache(t *testing.T) {
	e := setup(t, nil)
	tok := e.token(t, false)
	if again := e.token(t, false); again != tok {
		t.Fatalf("second call %q, want the cached %q", again, tok)
	}
	if n := e.f.Login5().Stats().Logins; n != 1 {
		t.Fatalf("%d logins, want 1", n)
	}

	reqs := e.f.Login5().Received()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.GetClientInfo().GetClientId() != librespot.ClientIdHex || r.GetClientInfo().GetDeviceId() != deviceID ||
		r.GetStoredCredential().GetUsername() != spotifytest.DefaultUsername ||
		string(r.GetStoredCredential().GetData()) != spotifytest.DefaultStoredCredential ||
		len(r.GetLoginContext()) != 0 || r.GetChallengeSolutions() != nil {
		t.Errorf("request %v", r)
	}
	var rec spotifytest.Request
	for _, x := range e.f.Requests() {
		if x.Host == spotifytest.Login5Host {
			rec = x
		}
	}
	if rec.Method != http.MethodPost || rec.Path != "/v3/login" || rec.Header.Get("Accept") != "application/x-protobuf" ||
		rec.Header.Get("Client-Token") != e.f.ClientToken().Issued()[0] {
		t.Errorf("HTTP request %s %s headers %v", rec.Method, rec.Path, rec.Header)
	}
}

func TestCanonicalUsernameAndOwnCredentialForRelogin(t *testing.T) {
	e := setup(t, func(c *login5.Config) {
		c.Username = "SPEAKERBOX-Test" // the login name; the fake knows the canonical one
	})
	if got := e.c.Username(); got != "SPEAKERBOX-Test" {
		t.Fatalf("Username before login %q", got)
	}
	e.token(t, false)
	if got := e.c.Username(); got != spotifytest.DefaultUsername {
		t.Fatalf("Username %q, want the canonical %q", got, spotifytest.DefaultUsername)
	}
	e.token(t, true)
	reqs := e.f.Login5().Received()
	second := reqs[1].GetStoredCredential()
	if second.GetUsername() != spotifytest.DefaultUsername || !strings.HasPrefix(string(second.GetData()), "l5cred-1-") {
		t.Fatalf("re-login sent %v, want the canonical name and login5's own stored credential", second)
	}
	if !strings.HasPrefix(string(e.c.StoredCredential()), "l5cred-2-") {
		t.Errorf("StoredCredential %q", e.c.StoredCredential())
	}

	// login5 retires its own credentials: the client falls back to the
	// access point's at once (no backoff) and logs in.
	e.f.Login5().RetireStoredCredentials()
	e.token(t, true)
	reqs = e.f.Login5().Received()
	if len(reqs) != 4 || string(reqs[3].GetStoredCredential().GetData()) != spotifytest.DefaultStoredCredential {
		t.Fatalf("after retirement: %d requests, last with %q", len(reqs), reqs[len(reqs)-1].GetStoredCredential().GetData())
	}
	if s := e.sl.got(); len(s) != 0 {
		t.Errorf("waited %v before the fallback", s)
	}
}

func TestRefreshTimingWithFakeClock(t *testing.T) {
	e := setup(t, nil)
	e.f.Login5().SetTokenLifetime(3600)
	first := e.token(t, false)

	e.clk.Add(3600*time.Second - login5.RefreshMargin - time.Nanosecond)
	if tok := e.token(t, false); tok != first {
		t.Fatalf("refreshed %v before the margin", time.Nanosecond)
	}
	e.clk.Add(time.Nanosecond) // exactly RefreshMargin before expiry
	second := e.token(t, false)
	if second == first {
		t.Fatal("not refreshed RefreshMargin before expiry")
	}
	if n := e.f.Login5().Stats().Logins; n != 2 {
		t.Fatalf("%d logins, want 2", n)
	}

	// A token that lives less than the margin is never reused.
	e.f.Login5().SetTokenLifetime(5)
	e.token(t, true)
	a := e.token(t, false)
	b := e.token(t, false)
	if a == b {
		t.Fatal("a 5 s token was reused although it is within 10 s of expiry")
	}
}

func TestForceAndInvalidate(t *testing.T) {
	e := setup(t, nil)
	first := e.token(t, false)
	second := e.token(t, true)
	if second == first {
		t.Fatal("force=true returned the same token")
	}

	// The dealer asks with force=false after a refused upgrade: Invalidate
	// turns that into one new login.
	e.c.Invalidate(second)
	third := e.token(t, false)
	if third == second {
		t.Fatal("an invalidated token came back")
	}
	// Reports about an older token change nothing.
	e.c.Invalidate(second)
	e.c.Invalidate(first)
	if tok := e.token(t, false); tok != third {
		t.Fatal("a stale Invalidate caused a login")
	}
	if n := e.f.Login5().Stats().Logins; n != 3 {
		t.Fatalf("%d logins, want 3", n)
	}
	// A stale report after a current one does not undo it.
	e.c.Invalidate(third)
	e.c.Invalidate(second)
	if tok := e.token(t, false); tok == third {
		t.Fatal("the current token's invalidation was lost to a stale one")
	}
}

func TestConcurrentCallersShareOneLogin(t *testing.T) {
	e := setup(t, nil)
	var wg sync.WaitGroup
	toks := make([]string, 8)
	for i := range toks {
		wg.Go(func() {
			tok, err := e.c.Token(context.Background(), false)
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
		})
	}
	wg.Wait()
	if n := e.f.Login5().Stats().Logins; n != 1 {
		t.Fatalf("%d logins for 8 concurrent callers, want 1", n)
	}
	for _, tok := range toks {
		if tok != toks[0] {
			t.Fatalf("different tokens %v", toks)
		}
	}
}

func TestHashcashVerifiedByTheFake(t *testing.T) {
	for _, bits := range []int{0, 1, 10, 14} {
		e := setup(t, nil)
		e.f.Login5().SetHashcash(bits, 1)
		e.token(t, false)
		st := e.f.Login5().Stats()
		if st.Challenges != 1 || st.SolutionsAccepted != 1 || st.SolutionsRejected != 0 || st.Logins != 1 {
			t.Fatalf("%d bits: stats %+v", bits, st)
		}
		r := e.f.Login5().Received()[1]
		sol := r.GetChallengeSolutions().GetSolutions()[0].GetHashcash()
		if len(r.GetLoginContext()) == 0 || len(sol.GetSuffix()) != 16 || sol.GetDuration() == nil {
			t.Fatalf("%d bits: resent request %v", bits, r)
		}
	}
}

func TestRetriesTemporaryLoginErrors(t *testing.T) {
	for _, code := range []pb.LoginError{pb.LoginError_TIMEOUT, pb.LoginError_TOO_MANY_ATTEMPTS, pb.LoginError_TRY_AGAIN_LATER} {
		e := setup(t, nil)
		e.f.Login5().SetError(code, 2)
		e.token(t, false)
		if got := e.sl.got(); len(got) != 2 || got[0] != time.Second || got[1] != 2*time.Second {
			t.Errorf("%v: waits %v, want [1s 2s] from the backoff", code, got)
		}
		if st := e.f.Login5().Stats(); st.Errors != 2 || st.Logins != 1 {
			t.Errorf("%v: stats %+v", code, st)
		}
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	e := setup(t, func(c *login5.Config) { c.MaxAttempts = 3 })
	e.f.Login5().SetError(pb.LoginError_TOO_MANY_ATTEMPTS, -1)
	_, err := e.c.Token(context.Background(), false)
	var le *login5.LoginError
	if !errors.As(err, &le) || le.Code != pb.LoginError_TOO_MANY_ATTEMPTS || !le.Temporary() {
		t.Fatalf("err %v", err)
	}
	if st := e.f.Login5().Stats(); st.Requests != 3 {
		t.Fatalf("%d requests, want 3", st.Requests)
	}
	if len(e.sl.got()) != 2 {
		t.Fatalf("waits %v", e.sl.got())
	}
}

func TestInvalidCredentialsIsPermanent(t *testing.T) {
	e := setup(t, func(c *login5.Config) { c.StoredCredential = []byte("wrong") })
	_, err := e.c.Token(context.Background(), false)
	if !errors.Is(err, login5.ErrInvalidCredentials) {
		t.Fatalf("err %v, want ErrInvalidCredentials", err)
	}
	var le *login5.LoginError
	if !errors.As(err, &le) || le.Temporary() {
		t.Fatalf("err %v is not a permanent LoginError", err)
	}
	if st := e.f.Login5().Stats(); st.Requests != 1 || len(e.sl.got()) != 0 {
		t.Fatalf("retried a permanent error: %+v, waits %v", st, e.sl.got())
	}
}

func TestHTTPStatuses(t *testing.T) {
	for _, tc := range []struct {
		code       int
		retryAfter string
		retried    bool
		wait       time.Duration
	}{
		{http.StatusInternalServerError, "", true, time.Second},
		{http.StatusServiceUnavailable, "", true, time.Second},
		{http.StatusTooManyRequests, "7", true, 7 * time.Second},
		{http.StatusBadRequest, "", false, 0},
		{http.StatusForbidden, "", false, 0},
	} {
		e := setup(t, nil)
		k := e.f.Knob(spotifytest.Login5Host, "/v3/login")
		k.SetStatus(tc.code, 1)
		k.SetRetryAfter(tc.retryAfter)
		tok, err := e.c.Token(context.Background(), false)
		if tc.retried {
			if err != nil || !e.f.Login5().Valid(tok) {
				t.Errorf("HTTP %d once: %q, %v; want a token after a retry", tc.code, tok, err)
			}
			if got := e.sl.got(); len(got) != 1 || got[0] != tc.wait {
				t.Errorf("HTTP %d: waits %v, want [%v]", tc.code, got, tc.wait)
			}
			continue
		}
		var se *login5.StatusError
		if !errors.As(err, &se) || se.Code != tc.code {
			t.Errorf("HTTP %d: err %v, want a StatusError", tc.code, err)
		}
		if len(e.sl.got()) != 0 || k.Hits() != 1 {
			t.Errorf("HTTP %d retried: waits %v", tc.code, e.sl.got())
		}
	}
}

func TestDroppedConnectionIsRetried(t *testing.T) {
	e := setup(t, nil)
	e.f.Knob(spotifytest.Login5Host, "/").DropNext(1)
	e.token(t, false)
	if got := e.sl.got(); len(got) != 1 {
		t.Fatalf("waits %v, want one retry", got)
	}
}

func TestOldTokenKeptWhenRefreshFailsInsideMargin(t *testing.T) {
	e := setup(t, func(c *login5.Config) { c.MaxAttempts = 1 })
	first := e.token(t, false)
	e.f.Login5().SetError(pb.LoginError_TRY_AGAIN_LATER, -1)
	e.clk.Add(3600*time.Second - 5*time.Second)
	if tok, err := e.c.Token(context.Background(), false); err != nil || tok != first {
		t.Fatalf("inside the margin: %q, %v; want the old token", tok, err)
	}
	e.clk.Add(5 * time.Second)
	if _, err := e.c.Token(context.Background(), false); err == nil {
		t.Fatal("an expired token was handed out")
	}
	if _, err := e.c.Token(context.Background(), true); err == nil {
		t.Fatal("a forced refresh that failed returned a token")
	}
}

func TestCodeChallengeIsUnsupported(t *testing.T) {
	e := setup(t, nil)
	e.f.Handle(spotifytest.Login5Host, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := proto.Marshal(&pb.LoginResponse{
			LoginContext: []byte("ctx"),
			Response: &pb.LoginResponse_Challenges{Challenges: &pb.Challenges{Challenges: []*pb.Challenge{{
				Challenge: &pb.Challenge_Code{Code: &challengespb.CodeChallenge{Method: challengespb.CodeChallenge_SMS}},
			}}}},
		})
		_, _ = w.Write(b)
	}))
	_, err := e.c.Token(context.Background(), false)
	if !errors.Is(err, login5.ErrUnsupportedChallenge) {
		t.Fatalf("err %v", err)
	}
	if len(e.sl.got()) != 0 {
		t.Fatal("retried an unanswerable challenge")
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	e := setup(t, func(c *login5.Config) {
		c.Sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	})
	e.f.Login5().SetError(pb.LoginError_TIMEOUT, -1)
	_, err := e.c.Token(ctx, false)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	var le *login5.LoginError
	if !errors.As(err, &le) {
		t.Fatalf("err %v does not carry the login error that caused the wait", err)
	}
}

func TestConfigErrors(t *testing.T) {
	ok := login5.Config{HTTP: http.DefaultClient, ClientToken: staticToken("x"), DeviceID: deviceID,
		Username: "u", StoredCredential: []byte("c")}
	for name, mod := range map[string]func(*login5.Config){
		"HTTP":             func(c *login5.Config) { c.HTTP = nil },
		"ClientToken":      func(c *login5.Config) { c.ClientToken = nil },
		"DeviceID":         func(c *login5.Config) { c.DeviceID = "" },
		"Username":         func(c *login5.Config) { c.Username = "" },
		"StoredCredential": func(c *login5.Config) { c.StoredCredential = nil },
	} {
		c := ok
		mod(&c)
		if _, err := login5.New(c); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("missing %s: err %v", name, err)
		}
	}
	if _, err := login5.New(ok); err != nil {
		t.Fatal(err)
	}
}

type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }

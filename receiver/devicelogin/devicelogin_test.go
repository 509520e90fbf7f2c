package devicelogin_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	librespot "github.com/devgianlu/go-librespot"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver/devicelogin"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// fakeTime is the flow's clock and its wait between polls: a wait records
// its length and moves the clock on at once. Both run on the flow's
// goroutine only.
type fakeTime struct {
	now    time.Time
	waits  []time.Duration
	onWait func(n int) // called before the n-th wait (from 1) returns
}

func (c *fakeTime) Now() time.Time { return c.now }

func (c *fakeTime) Wait(ctx context.Context, d time.Duration) error {
	c.waits = append(c.waits, d)
	if c.onWait != nil {
		c.onWait(len(c.waits))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.now = c.now.Add(d)
	return nil
}

type rig struct {
	fake     *spotifytest.Fake
	accounts *spotifytest.AccountsServer
	dialer   *spotifytest.APFakeDialer
	store    *creds.Store
	clock    *fakeTime
	flow     *devicelogin.Flow
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{
		fake:     spotifytest.New(t),
		accounts: spotifytest.NewAccountsServer(),
		dialer:   spotifytest.NewAPFakeDialer(spotifytest.APFakeConfig{Username: "canonical-carol", Reusable: []byte("carol-reusable")}),
		clock:    &fakeTime{now: time.Date(2026, 12, 3, 21, 0, 0, 0, time.UTC)},
	}
	r.fake.Handle("accounts.spotify.com", r.accounts)
	r.store = creds.NewStore(t.TempDir(), slog.New(slog.DiscardHandler), r.clock.Now)
	r.flow = devicelogin.New(devicelogin.Config{
		HTTP: r.fake.Client(), Dialer: r.dialer, Store: r.store,
		Now: r.clock.Now, Wait: r.clock.Wait,
	})
	return r
}

// wait runs Start and Wait, collecting the progress reports.
func (r *rig) wait(t *testing.T, ctx context.Context) (*devicelogin.Code, *devicelogin.Grant, []devicelogin.Progress, error) {
	t.Helper()
	code, err := r.flow.Start(ctx)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	var prog []devicelogin.Progress
	g, err := r.flow.Wait(ctx, code, func(p devicelogin.Progress) { prog = append(prog, p) })
	return code, g, prog, err
}

func secs(n ...int) []time.Duration {
	var d []time.Duration
	for _, s := range n {
		d = append(d, time.Duration(s)*time.Second)
	}
	return d
}

func kinds(ps []devicelogin.Progress) []devicelogin.ProgressKind {
	var k []devicelogin.ProgressKind
	for _, p := range ps {
		k = append(k, p.Kind)
	}
	return k
}

func TestApprovalAfterPendingPollsIsStoredVerified(t *testing.T) {
	r := newRig(t)
	r.accounts.Script(spotifytest.AccountsPending, spotifytest.AccountsPending, spotifytest.AccountsPending, spotifytest.AccountsApprove)
	start := r.clock.now
	code, g, prog, err := r.wait(t, context.Background())
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if code.UserCode != spotifytest.AccountsDefaultUserCode || code.Address() != r.accounts.VerificationURIComplete() ||
		code.VerificationURI != spotifytest.AccountsDefaultVerifyURI || code.Interval != 5*time.Second {
		t.Fatalf("code %+v", code)
	}
	// expires_in 900 s, less the (real) time the request took.
	if v := code.Expires.Sub(start); v > 900*time.Second || v < 898*time.Second {
		t.Fatalf("code valid for %s, want 900 s", v)
	}
	if !slices.Equal(r.clock.waits, secs(5, 5, 5, 5)) {
		t.Fatalf("waits %v, want four of the 5 s interval", r.clock.waits)
	}
	if !slices.Equal(kinds(prog), []devicelogin.ProgressKind{devicelogin.Pending, devicelogin.Pending, devicelogin.Pending}) ||
		prog[2].Polls != 3 || prog[2].Remaining != code.Expires.Sub(start.Add(15*time.Second)) {
		t.Fatalf("progress %+v", prog)
	}
	if strings.Contains(g.String(), spotifytest.AccountsDefaultToken) {
		t.Fatalf("the grant prints its token: %s", g)
	}

	dev := r.accounts.DeviceRequests()
	if len(dev) != 1 || dev[0].Get("client_id") != librespot.ClientIdHex || !slices.Contains(strings.Fields(dev[0].Get("scope")), "streaming") {
		t.Fatalf("device authorization requests %v", dev)
	}
	polls := r.accounts.Polls()
	if len(polls) != 4 {
		t.Fatalf("%d polls, want 4", len(polls))
	}
	for _, p := range polls {
		if p.Get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code" || p.Get("device_code") != spotifytest.AccountsDefaultDeviceCode || p.Get("client_id") != librespot.ClientIdHex {
			t.Fatalf("poll %v", p)
		}
	}

	got, err := r.flow.Finish(context.Background(), g)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	// The access point saw the token, with no username.
	logins := r.dialer.Logins()
	if len(logins) != 1 || logins[0].Username != "" || logins[0].AuthType != creds.AuthSpotifyToken || string(logins[0].AuthData) != spotifytest.AccountsDefaultToken {
		t.Fatalf("access point logins %v", logins)
	}
	if c := r.dialer.Conns(); len(c) != 1 {
		t.Fatalf("%d connections", len(c))
	} else {
		select {
		case <-c[0].Closed():
		default:
			t.Fatal("the access point connection was left open")
		}
	}
	want := creds.Credentials{Username: "canonical-carol", AuthType: creds.AuthStoredSpotify, AuthData: []byte("carol-reusable")}
	if got.Username != want.Username || got.AuthType != want.AuthType || string(got.AuthData) != string(want.AuthData) {
		t.Fatalf("Finish returned %v", got)
	}
	all, err := r.store.List()
	if err != nil || len(all) != 1 || !all[0].Verified || all[0].Username != "canonical-carol" || string(all[0].AuthData) != "carol-reusable" || all[0].AuthType != creds.AuthStoredSpotify {
		t.Fatalf("store holds %v, %v", all, err)
	}
	// credentials.json is the new login, 0600, and nothing else is left
	// beside the two files (the writes were atomic: no temporaries).
	b, err := os.ReadFile(filepath.Join(r.store.Dir(), creds.DefaultFile))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := creds.Parse(b); err != nil || c.Username != "canonical-carol" || string(c.AuthData) != "carol-reusable" {
		t.Fatalf("credentials.json: %v, %v", c, err)
	}
	ents, _ := os.ReadDir(r.store.Dir())
	if len(ents) != 2 {
		t.Fatalf("state directory holds %d files, want 2", len(ents))
	}
	for _, e := range ents {
		st, err := os.Stat(filepath.Join(r.store.Dir(), e.Name()))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, %v", e.Name(), st.Mode(), err)
		}
	}
}

func TestSlowDownGrowsTheInterval(t *testing.T) {
	r := newRig(t)
	r.accounts.Script(spotifytest.AccountsPending, spotifytest.AccountsSlowDown, spotifytest.AccountsPending, spotifytest.AccountsSlowDown, spotifytest.AccountsApprove)
	_, _, prog, err := r.wait(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Every slow_down adds 5 s for this and all later polls.
	if !slices.Equal(r.clock.waits, secs(5, 5, 10, 10, 15)) {
		t.Fatalf("waits %v", r.clock.waits)
	}
	if !slices.Equal(kinds(prog), []devicelogin.ProgressKind{devicelogin.Pending, devicelogin.SlowDown, devicelogin.Pending, devicelogin.SlowDown}) ||
		prog[1].Interval != 10*time.Second || prog[3].Interval != 15*time.Second {
		t.Fatalf("progress %+v", prog)
	}
}

func TestDenialEndsTheWait(t *testing.T) {
	r := newRig(t)
	r.accounts.Script(spotifytest.AccountsPending, spotifytest.AccountsDenied, spotifytest.AccountsApprove)
	_, g, _, err := r.wait(t, context.Background())
	if !errors.Is(err, devicelogin.ErrDenied) || g != nil {
		t.Fatalf("Wait = %v, %v; want ErrDenied", g, err)
	}
	if n := len(r.accounts.Polls()); n != 2 {
		t.Fatalf("%d polls after the denial, want 2", n)
	}
}

func TestExpiry(t *testing.T) {
	t.Run("by the clock", func(t *testing.T) {
		r := newRig(t)
		r.accounts.SetTiming(5, 12)
		code, _, _, err := r.wait(t, context.Background())
		if !errors.Is(err, devicelogin.ErrExpired) {
			t.Fatalf("Wait = %v, want ErrExpired", err)
		}
		// Two polls at 5 and 10 s; the last wait stops at the expiry, and
		// no poll is sent for a code that has expired.
		if n := len(r.accounts.Polls()); n != 2 {
			t.Fatalf("%d polls, want 2", n)
		}
		if w := r.clock.waits; len(w) != 3 || w[2] >= 5*time.Second || !r.clock.now.Equal(code.Expires) {
			t.Fatalf("waits %v, clock %v, expiry %v", w, r.clock.now, code.Expires)
		}
	})
	t.Run("by the server", func(t *testing.T) {
		r := newRig(t)
		r.accounts.Script(spotifytest.AccountsPending, spotifytest.AccountsExpired)
		_, _, _, err := r.wait(t, context.Background())
		if !errors.Is(err, devicelogin.ErrExpired) || len(r.accounts.Polls()) != 2 {
			t.Fatalf("Wait = %v after %d polls, want ErrExpired after 2", err, len(r.accounts.Polls()))
		}
	})
}

func TestNetworkErrorMidPollIsRetried(t *testing.T) {
	for _, fault := range []spotifytest.AccountsAnswer{spotifytest.AccountsDrop, spotifytest.AccountsBroken} {
		r := newRig(t)
		r.accounts.Script(spotifytest.AccountsPending, fault, spotifytest.AccountsPending, spotifytest.AccountsApprove)
		_, g, prog, err := r.wait(t, context.Background())
		if err != nil || g == nil {
			t.Fatalf("fault %d: Wait = %v", fault, err)
		}
		// The failed poll doubles the interval (RFC 8628 §3.5).
		if !slices.Equal(r.clock.waits, secs(5, 5, 10, 10)) {
			t.Fatalf("fault %d: waits %v", fault, r.clock.waits)
		}
		if !slices.Equal(kinds(prog), []devicelogin.ProgressKind{devicelogin.Pending, devicelogin.Retrying, devicelogin.Pending}) || prog[1].Err == nil {
			t.Fatalf("fault %d: progress %+v", fault, prog)
		}
	}
}

func TestCancelWhileWaitingStoresNothing(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.clock.onWait = func(n int) {
		if n == 3 {
			cancel()
		}
	}
	_, g, _, err := r.wait(t, ctx)
	if !errors.Is(err, context.Canceled) || g != nil {
		t.Fatalf("Wait = %v, %v; want context.Canceled", g, err)
	}
	if all, _ := r.store.List(); len(all) != 0 || len(r.dialer.Logins()) != 0 {
		t.Fatalf("store %v, logins %v after a cancel", all, r.dialer.Logins())
	}
}

func TestAccessPointRefusalStoresNothing(t *testing.T) {
	for reason, want := range map[string]string{
		"BadCredentials":         "may no longer accept this way of logging in",
		"PremiumAccountRequired": "no Premium",
	} {
		r := newRig(t)
		r.accounts.Script(spotifytest.AccountsApprove)
		r.dialer.Reject(reason)
		_, g, _, err := r.wait(t, context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.flow.Finish(context.Background(), g)
		var re *devicelogin.RefusedError
		if !errors.As(err, &re) || re.Reason != reason || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "Nothing was stored") {
			t.Fatalf("%s: Finish = %v", reason, err)
		}
		if reason == "BadCredentials" && !strings.Contains(err.Error(), "open Spotify and pick the speaker") {
			t.Fatalf("the refusal does not name the ZeroConf route: %v", err)
		}
		if strings.Contains(err.Error(), spotifytest.AccountsDefaultToken) {
			t.Fatalf("the error shows the token: %v", err)
		}
		ents, _ := os.ReadDir(r.store.Dir())
		if len(ents) != 0 {
			t.Fatalf("%s: %d files stored after a refusal", reason, len(ents))
		}
	}
}

func TestAccessPointDownStoresNothing(t *testing.T) {
	r := newRig(t)
	r.accounts.Script(spotifytest.AccountsApprove)
	r.dialer.FailNext(1, errors.New("no route to host"))
	_, g, _, err := r.wait(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.flow.Finish(context.Background(), g); err == nil || !strings.Contains(err.Error(), "no route to host") || !strings.Contains(err.Error(), "nothing was stored") {
		t.Fatalf("Finish = %v", err)
	}
	if ents, _ := os.ReadDir(r.store.Dir()); len(ents) != 0 {
		t.Fatalf("%d files stored", len(ents))
	}
}

func TestServerErrorEndsTheWait(t *testing.T) {
	r := newRig(t)
	r.fake.Handle("accounts.spotify.com", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == spotifytest.AccountsTokenPath {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_client","error_description":"device grant not enabled\u001b[2J"}`))
			return
		}
		r.accounts.ServeHTTP(w, req)
	}))
	_, _, _, err := r.wait(t, context.Background())
	var se *devicelogin.ServerError
	if !errors.As(err, &se) || se.Code != "invalid_client" || se.Status != 401 || strings.ContainsRune(err.Error(), 0x1b) {
		t.Fatalf("Wait = %v, want invalid_client without the escape character", err)
	}
}

func TestStartDefaultsAndRefusals(t *testing.T) {
	r := newRig(t)
	r.accounts.SetTiming(0, 0)
	r.accounts.SetComplete(false)
	code, err := r.flow.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// RFC 8628: 5 s when no interval is named; a code without expires_in is
	// given 10 minutes; without the complete address the plain one is shown.
	if code.Interval != 5*time.Second || code.Expires.Sub(r.clock.now) != 10*time.Minute || code.Address() != spotifytest.AccountsDefaultVerifyURI {
		t.Fatalf("code %+v", code)
	}

	for name, body := range map[string]string{
		"plain http address": `{"device_code":"d","user_code":"u","verification_uri":"http://evil.test/pair","expires_in":60}`,
		"no device code":     `{"user_code":"u","verification_uri":"https://www.spotify.com/pair","expires_in":60}`,
		"expired":            `{"device_code":"d","user_code":"u","verification_uri":"https://www.spotify.com/pair","expires_in":-5}`,
		"oauth error":        `{"error":"unauthorized_client"}`,
	} {
		r.fake.Handle("accounts.spotify.com", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if strings.Contains(body, "error") {
				w.WriteHeader(http.StatusBadRequest)
			}
			w.Write([]byte(body))
		}))
		if code, err := r.flow.Start(context.Background()); err == nil {
			t.Errorf("%s: Start = %+v", name, code)
		}
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver/devicelogin"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// loginClock is the flow's clock and its wait between polls: a wait moves
// the clock on at once. Only the flow's goroutine uses it.
type loginClock struct {
	now    time.Time
	onWait func(n int)
	waits  int
}

func (c *loginClock) Now() time.Time { return c.now }

func (c *loginClock) Wait(ctx context.Context, d time.Duration) error {
	c.waits++
	if c.onWait != nil {
		c.onWait(c.waits)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.now = c.now.Add(d)
	return nil
}

type loginRig struct {
	accounts *spotifytest.AccountsServer
	dialer   *spotifytest.APFakeDialer
	store    *creds.Store
	clock    *loginClock
	flow     *devicelogin.Flow
	a        *app
	stdout   *bytes.Buffer
}

// newLoginRig runs the flow against a TLS fake of accounts.spotify.com.
func newLoginRig(t *testing.T) *loginRig {
	f := spotifytest.New(t)
	accounts := spotifytest.NewAccountsServer()
	f.Handle("accounts.spotify.com", accounts)
	client := f.Client()
	r := &loginRig{
		accounts: accounts,
		dialer:   spotifytest.NewAPFakeDialer(spotifytest.APFakeConfig{Username: "canonical-carol", Reusable: []byte("carol-reusable")}),
		clock:    &loginClock{now: time.Date(2026, 12, 3, 21, 0, 0, 0, time.UTC)},
		stdout:   &bytes.Buffer{},
	}
	log := slog.New(slog.DiscardHandler)
	r.store = creds.NewStore(t.TempDir(), log, r.clock.Now)
	r.flow = devicelogin.New(devicelogin.Config{HTTP: client, Dialer: r.dialer, Store: r.store, Now: r.clock.Now, Wait: r.clock.Wait})
	r.a = &app{log: log, stdout: r.stdout, stderr: io.Discard, guard: &exitGuard{}}
	return r
}

func (r *loginRig) run(ctx context.Context) error {
	return runLogin(ctx, r.a, r.flow, loginOptions{dir: r.store.Dir(), qr: true, now: r.clock.Now})
}

// The owner's whole session: the address, the code and the QR code, the
// time left as it runs down, the stored login, and the running speaker
// (its LoginWatch) switching to it.
func TestLoginThenRunningSpeakerSwitches(t *testing.T) {
	r := newLoginRig(t)
	// 15 minutes of 5 s polls: approval after 2.5 minutes.
	for range 29 {
		r.accounts.Script(spotifytest.AccountsPending)
	}
	r.accounts.Script(spotifytest.AccountsSlowDown, spotifytest.AccountsDrop, spotifytest.AccountsApprove)

	var handed []creds.Credentials
	watch := NewLoginWatch(r.store, func(_ context.Context, c creds.Credentials) error {
		handed = append(handed, c)
		return nil
	}, slog.New(slog.DiscardHandler))

	if err := r.run(context.Background()); err != nil {
		t.Fatalf("runLogin: %v\n%s", err, r.stdout)
	}
	out := r.stdout.String()
	for _, want := range []string{
		spotifytest.AccountsDefaultVerifyURI + "\n",
		spotifytest.AccountsDefaultUserCode + "\n",
		"█▀",
		"The code is valid for 15 minutes, until 21:15 UTC.",
		"Still waiting; the code is valid for another 14 minutes.",
		"Still waiting; the code is valid for another 13 minutes.",
		"checking every 10s now",
		"Could not check with Spotify",
		"trying again in 20s",
		"Logged in as canonical-carol.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "another 15 minutes") || strings.Contains(out, "another 12 minutes") {
		t.Errorf("progress beyond one line a minute:\n%s", out)
	}

	e, ok, err := r.store.Default()
	if err != nil || !ok || !e.Verified || e.Username != "canonical-carol" || string(e.AuthData) != "carol-reusable" {
		t.Fatalf("stored %v %v %v", e, ok, err)
	}
	if !watch.check(context.Background()) || len(handed) != 1 || handed[0].Username != "canonical-carol" || string(handed[0].AuthData) != "carol-reusable" {
		t.Fatalf("the running speaker was handed %v", handed)
	}
	if _, err := os.Stat(filepath.Join(r.store.Dir(), loginRequestFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the request is still there: %v", err)
	}
	if watch.check(context.Background()) || len(handed) != 1 {
		t.Fatalf("a second check handed the login again")
	}
}

func TestLoginFailuresStoreNothing(t *testing.T) {
	for name, c := range map[string]struct {
		script []spotifytest.AccountsAnswer
		reject string
		want   string
	}{
		"denied":  {script: []spotifytest.AccountsAnswer{spotifytest.AccountsPending, spotifytest.AccountsDenied}, want: "declined"},
		"expired": {script: []spotifytest.AccountsAnswer{spotifytest.AccountsExpired}, want: "expired"},
		"refused": {script: []spotifytest.AccountsAnswer{spotifytest.AccountsApprove}, reject: "BadCredentials", want: "open Spotify and pick the speaker"},
	} {
		t.Run(name, func(t *testing.T) {
			r := newLoginRig(t)
			r.accounts.Script(c.script...)
			if c.reject != "" {
				r.dialer.Reject(c.reject)
			}
			err := r.run(context.Background())
			var errOut bytes.Buffer
			if err == nil || !strings.Contains(err.Error(), c.want) || exitCode(err, &errOut) != exitFailure {
				t.Fatalf("runLogin = %v, want %q and exit 1", err, c.want)
			}
			if ents, _ := os.ReadDir(r.store.Dir()); len(ents) != 0 {
				t.Fatalf("%d files in the state directory", len(ents))
			}
		})
	}
}

func TestLoginCancelledWhileWaitingExits130(t *testing.T) {
	r := newLoginRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.clock.onWait = func(n int) {
		if n == 4 {
			cancel()
		}
	}
	err := r.run(ctx)
	var errOut bytes.Buffer
	if code := exitCode(err, &errOut); code != 130 || !strings.Contains(errOut.String(), "nothing was stored") {
		t.Fatalf("exit %d (%v), stderr %q", code, err, errOut.String())
	}
	if ents, _ := os.ReadDir(r.store.Dir()); len(ents) != 0 || len(r.dialer.Logins()) != 0 {
		t.Fatalf("%d files stored, %d access point logins", len(ents), len(r.dialer.Logins()))
	}
}

// loginChildEnv makes this test binary the child of
// TestLoginCtrlCExits130: `speakerbox login` under main's own signal
// handling, polling a fake accounts service that never approves.
const loginChildEnv = "SBTEST_LOGIN_CHILD"

func init() {
	if dir := os.Getenv(loginChildEnv); dir != "" {
		os.Exit(loginChild(dir))
	}
}

// handlerTransport serves requests with a handler in this process: the
// child has no testing.T for a TLS fake.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

func loginChild(dir string) int {
	acc := spotifytest.NewAccountsServer()
	acc.SetTiming(1, 900)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	store := creds.NewStore(dir, log, time.Now)
	flow := devicelogin.New(devicelogin.Config{
		HTTP: &http.Client{Transport: handlerTransport{acc}}, Dialer: spotifytest.NewAPFakeDialer(spotifytest.APFakeConfig{}),
		Store: store, Log: log,
	})
	a := &app{log: log, stdout: os.Stdout, stderr: os.Stderr, guard: &exitGuard{}}
	return a.execute(context.Background(), func(ctx context.Context, a *app, _ []string) error {
		return runLogin(ctx, a, flow, loginOptions{dir: dir, now: time.Now})
	}, nil)
}

// TestLoginCtrlCExits130 interrupts a waiting `login` with a real SIGINT:
// main's handler cancels the wait, nothing is stored, and the exit status
// is 130.
func TestLoginCtrlCExits130(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(cleanEnv(), loginChildEnv+"="+dir, "GORACE=atexit_sleep_ms=0")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	sc := bufio.NewScanner(stdout)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "Waiting for your approval") {
		if !sc.Scan() {
			t.Fatalf("the child ended before waiting:\n%s\n%s", seen.String(), stderr.String())
		}
		fmt.Fprintln(&seen, sc.Text())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("child ended with %v, want exit status 130; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "speakerbox: login: interrupted; nothing was stored") {
		t.Fatalf("stderr lacks the interruption:\n%s", stderr.String())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("%d files in the state directory after Ctrl-C", len(ents))
	}
}

func TestLoginWatch(t *testing.T) {
	newStore := func(t *testing.T) *creds.Store {
		s := creds.NewStore(t.TempDir(), slog.New(slog.DiscardHandler), time.Now)
		c := creds.Credentials{Username: "dave", AuthType: creds.AuthStoredSpotify, AuthData: []byte("dave-reusable")}
		if err := s.Accepted(c, c); err != nil {
			t.Fatal(err)
		}
		return s
	}
	record := func(got *[]string) func(context.Context, creds.Credentials) error {
		return func(_ context.Context, c creds.Credentials) error {
			*got = append(*got, c.Username+":"+string(c.AuthData))
			return nil
		}
	}
	reqPath := func(s *creds.Store) string { return filepath.Join(s.Dir(), loginRequestFile) }
	gone := func(t *testing.T, s *creds.Store) {
		t.Helper()
		if _, err := os.Stat(reqPath(s)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("request file still there: %v", err)
		}
	}

	t.Run("a request from before the start is set aside", func(t *testing.T) {
		s := newStore(t)
		if err := writeLoginRequest(s.Dir(), "dave"); err != nil {
			t.Fatal(err)
		}
		var got []string
		w := NewLoginWatch(s, record(&got), slog.New(slog.DiscardHandler))
		gone(t, s)
		if w.check(context.Background()) || len(got) != 0 {
			t.Fatalf("handed %v", got)
		}
	})
	t.Run("a request is acted on once, even if its file stays", func(t *testing.T) {
		s := newStore(t)
		var got []string
		w := NewLoginWatch(s, record(&got), slog.New(slog.DiscardHandler))
		if err := writeLoginRequest(s.Dir(), "DAVE"); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(reqPath(s))
		if st, err := os.Stat(reqPath(s)); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("request file: %v %v", st, err)
		}
		if !w.check(context.Background()) || len(got) != 1 || got[0] != "dave:dave-reusable" {
			t.Fatalf("handed %v", got)
		}
		gone(t, s)
		// The same request back (as if removing it had failed): not again.
		os.WriteFile(reqPath(s), b, 0o600)
		if w.check(context.Background()) || len(got) != 1 {
			t.Fatalf("handed %v", got)
		}
		// A new request for the same user: again.
		writeLoginRequest(s.Dir(), "dave")
		if !w.check(context.Background()) || len(got) != 2 {
			t.Fatalf("handed %v", got)
		}
	})
	t.Run("unknown user and junk are removed", func(t *testing.T) {
		s := newStore(t)
		var got []string
		var logs bytes.Buffer
		w := NewLoginWatch(s, record(&got), slog.New(slog.NewTextHandler(&logs, nil)))
		writeLoginRequest(s.Dir(), "mallory")
		if w.check(context.Background()) {
			t.Fatal("acted on an unknown user")
		}
		gone(t, s)
		for _, junk := range []string{"{", `{"username":"dave"}`, strings.Repeat(" ", 5000)} {
			os.WriteFile(reqPath(s), []byte(junk), 0o600)
			if w.check(context.Background()) {
				t.Fatalf("acted on %q", junk)
			}
			gone(t, s)
		}
		if len(got) != 0 || strings.Count(logs.String(), "level=WARN") != 4 || strings.Contains(logs.String(), "mallory") {
			t.Fatalf("handed %v; logs:\n%s", got, logs.String())
		}
	})
	t.Run("Run checks on every tick until the context ends", func(t *testing.T) {
		s := newStore(t)
		handed := make(chan creds.Credentials, 1)
		w := NewLoginWatch(s, func(_ context.Context, c creds.Credentials) error {
			handed <- c
			return nil
		}, slog.New(slog.DiscardHandler))
		ticks := make(chan time.Time)
		asked := make(chan time.Duration, 1)
		w.after = func(d time.Duration) <-chan time.Time { asked <- d; return ticks }
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		if d := <-asked; d != loginWatchEvery {
			t.Fatalf("Run waits %s, want %s", d, loginWatchEvery)
		}
		writeLoginRequest(s.Dir(), "dave")
		ticks <- time.Time{}
		if c := <-handed; c.Username != "dave" {
			t.Fatalf("handed %v", c)
		}
		<-asked
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

func TestLoginRefusesAnotherUsersStateDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := checkStateOwner(dir, os.Getuid()); err != nil {
		t.Fatalf("own directory refused: %v", err)
	}
	err := checkStateOwner(dir, os.Getuid()+1)
	var errOut bytes.Buffer
	if err == nil || exitCode(err, &errOut) != exitUsage || !strings.Contains(errOut.String(), "state_dir") || !strings.Contains(errOut.String(), "sudo -u speakerbox") {
		t.Fatalf("another user's directory: %v (%s)", err, errOut.String())
	}
}

func TestLoginUsage(t *testing.T) {
	_, stderr, code := runCmd(t, speakerbox(t, nil, "login", "extra"))
	if code != exitUsage || !strings.Contains(stderr, "login takes no arguments") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	stdout, _, code := runCmd(t, speakerbox(t, nil, "login", "--help"))
	if code != 0 || !strings.Contains(stdout, "--no-qr") || !strings.Contains(stdout, "spotify.com/pair") {
		t.Fatalf("exit %d, help %q", code, stdout)
	}
}

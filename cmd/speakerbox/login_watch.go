package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/internal/redact"
	"github.com/speakerbox/speakerbox/internal/statedir"
)

// How `speakerbox login` (a process of its own) tells a running speaker
// about the login it stored: after the store holds the verified login, it
// writes a small request file into the state directory, naming the user and
// a random id, and nothing secret. The speaker looks for that file every few
// seconds and hands the user's stored login to its Device. A file, and not
// a change of credentials.json, because the speaker rewrites
// credentials.json itself after every login it makes: watching the request
// file alone cannot feed the speaker's own writes back to it, nor a phone's
// handover, which reaches the Device through ZeroConf already.
const (
	loginRequestFile  = "login-request.json"
	loginWatchEvery   = 2 * time.Second
	maxLoginRequestSz = 4 << 10
)

type loginRequest struct {
	Username string `json:"username"`
	ID       string `json:"id"`
}

// writeLoginRequest asks a running speaker in dir to log in as username
// (whose login is in the store already).
func writeLoginRequest(dir, username string) error {
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return fmt.Errorf("login request id: %w", err)
	}
	b, err := json.Marshal(loginRequest{Username: username, ID: hex.EncodeToString(raw[:])})
	if err != nil {
		return fmt.Errorf("encode login request: %w", err)
	}
	if err := statedir.WriteFileAtomic(filepath.Join(dir, loginRequestFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("tell a running speaker about the login: %w", err)
	}
	return nil
}

// LoginWatch is the running speaker's side: it picks up the logins
// `speakerbox login` stores, so the speaker uses them without a restart.
//
// For the lead (run.go), with store the speaker's creds.Store and dev the
// receiver.Device:
//
//	watch := NewLoginWatch(store, dev.Login, a.log.With("component", "login"))
//	// ... then read store.Default() for the first login, as before ...
//	wg.Add(1)
//	a.Go(func() { defer wg.Done(); _ = watch.Run(ctx) })
//
// Make it before reading store.Default(): it sets aside a request left from
// before the start, whose login Default returns anyway.
type LoginWatch struct {
	dir   string
	store *creds.Store
	login func(context.Context, creds.Credentials) error
	log   *slog.Logger
	// after paces the checks; time.After in production.
	after func(time.Duration) <-chan time.Time
	// handled is the id of the last request acted on, so that a request
	// file that cannot be removed (a read-only moment) is not acted on
	// again every few seconds.
	handled string
}

// NewLoginWatch returns a watch over store's directory that hands new
// logins to login (receiver.Device's Login). A request file already there
// is removed: it is from before this start.
func NewLoginWatch(store *creds.Store, login func(context.Context, creds.Credentials) error, log *slog.Logger) *LoginWatch {
	w := &LoginWatch{dir: store.Dir(), store: store, login: login, log: log, after: time.After}
	if req, ok := w.read(); ok {
		w.handled = req.ID
		w.remove()
	}
	return w
}

// Run checks for a request every 2 s until ctx ends; it returns nil then.
// A failed check is logged and the next one goes on.
func (w *LoginWatch) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.after(loginWatchEvery):
		}
		w.check(ctx)
	}
}

// check acts on a new request, if there is one: it reports whether it handed
// a login to the speaker.
func (w *LoginWatch) check(ctx context.Context) bool {
	req, ok := w.read()
	if !ok || req.ID == w.handled {
		return false
	}
	e, found, err := w.store.Get(req.Username)
	switch {
	case err != nil:
		// Leave the request: the store may be readable at the next check.
		w.log.Warn("a login was made with `speakerbox login`, but the credentials could not be read", "err", err)
		return false
	case !found || !e.Verified:
		w.log.Warn("`speakerbox login` asked to use a login the store does not hold; ignoring it", "user", redact.Username(req.Username))
		w.handled = req.ID
		w.remove()
		return false
	}
	if err := w.login(ctx, e.Credentials); err != nil {
		// Only when ctx ended: Device.Login does not wait for the network.
		return false
	}
	w.handled = req.ID
	w.remove()
	w.log.Info("using the login made with `speakerbox login`", "user", redact.Username(e.Username))
	return true
}

// read returns the request in the state directory, if there is a usable
// one. A file that does not parse is logged and removed.
func (w *LoginWatch) read() (loginRequest, bool) {
	path := filepath.Join(w.dir, loginRequestFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return loginRequest{}, false
	}
	var req loginRequest
	if err == nil && len(b) > maxLoginRequestSz {
		err = fmt.Errorf("%d bytes, more than %d", len(b), maxLoginRequestSz)
	}
	if err == nil {
		err = json.Unmarshal(b, &req)
	}
	if err == nil && (req.Username == "" || req.ID == "") {
		err = errors.New("username or id missing")
	}
	if err != nil {
		w.log.Warn("ignoring an unreadable login request", "path", path, "err", err)
		w.remove()
		return loginRequest{}, false
	}
	return req, true
}

func (w *LoginWatch) remove() {
	path := filepath.Join(w.dir, loginRequestFile)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		w.log.Warn("could not remove the login request", "path", path, "err", err)
	}
}

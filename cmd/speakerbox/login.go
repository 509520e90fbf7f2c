package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/termqr"
	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/internal/statedir"
	"github.com/speakerbox/speakerbox/receiver"
	"github.com/speakerbox/speakerbox/receiver/devicelogin"
)

// loginCommand logs the speaker in with a code the owner approves in any
// browser (the OAuth device authorization grant), for when no phone can see
// the speaker on the network.
func loginCommand() *command {
	return &command{
		name:    "login",
		summary: "log the speaker in to Spotify with a code entered at spotify.com/pair (no phone on the network needed)",
		setup: func(fs *flag.FlagSet) runFunc {
			noQR := fs.Bool("no-qr", false, "do not draw the QR code of the address")
			return func(ctx context.Context, a *app, args []string) error {
				if len(args) > 0 {
					return usagef("login takes no arguments, got %q", args)
				}
				dir := a.cfg.StateDir
				if err := statedir.Ensure(dir); err != nil {
					return err
				}
				if err := checkStateOwner(dir, os.Getuid()); err != nil {
					return err
				}
				// The access point sees the speaker's own device id, as
				// at every later login with what it hands back.
				deviceID, _, err := statedir.DeviceID(dir)
				if err != nil {
					return fmt.Errorf("state directory %q: %w", dir, err)
				}
				client := &http.Client{Timeout: 30 * time.Second}
				store := creds.NewStore(dir, a.log.With("component", "credentials"), time.Now)
				flow := devicelogin.New(devicelogin.Config{
					HTTP:   client,
					Dialer: &receiver.APDialer{DeviceID: deviceID, HTTP: client, Log: a.log.With("component", "ap")},
					Store:  store,
					Log:    a.log.With("component", "login"),
				})
				return runLogin(ctx, a, flow, loginOptions{dir: dir, qr: !*noQR, now: time.Now})
			}
		},
	}
}

// checkStateOwner refuses a state directory that another user owns: a
// login stored there by root (mode 0600) is one the speaker, running as its
// own user, could not read.
func checkStateOwner(dir string, uid int) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("state directory %q: %w", dir, err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || int(sys.Uid) == uid {
		return nil
	}
	return &config.Error{Key: "state_dir", Value: dir,
		Problem: fmt.Sprintf("the directory belongs to user id %d, but login runs as user id %d, so the speaker could not read the login", sys.Uid, uid),
		Allowed: "a state directory of the user running login: run it as the speaker's user, e.g. sudo -u speakerbox speakerbox login --state_dir " + dir}
}

type loginOptions struct {
	dir string // the state directory: where the login request for a running speaker goes
	qr  bool
	now func() time.Time // the flow's clock
}

// interruptedError is a command that waits for its owner, interrupted by
// SIGINT or SIGTERM before it changed anything: exit status 130, as a shell
// reports a program Ctrl-C ended.
type interruptedError struct{ msg string }

func (e *interruptedError) Error() string { return e.msg }

func runLogin(ctx context.Context, a *app, flow *devicelogin.Flow, o loginOptions) error {
	interrupted := &interruptedError{"login: interrupted; nothing was stored"}
	w := a.stdout
	code, err := flow.Start(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return interrupted
		}
		return fmt.Errorf("login: %w", err)
	}
	fmt.Fprintf(w, "To log this speaker in to Spotify, open\n\n    %s\n\n"+
		"in a browser on any phone or computer, log in to Spotify there if asked, and enter the code\n\n    %s\n\n",
		code.VerificationURI, code.UserCode)
	if o.qr {
		fmt.Fprintln(w, "Or scan this with a phone's camera: it opens the page with the code filled in.")
		fmt.Fprintln(w)
		if err := termqr.Render(w, code.Address()); err != nil {
			fmt.Fprintf(w, "(no QR code: %v)\n", err)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "The code is valid for %s, until %s. Waiting for your approval (Ctrl-C cancels)...\n",
		approxDuration(code.Expires.Sub(o.now())), code.Expires.Round(time.Minute).Format("15:04 MST"))

	g, err := flow.Wait(ctx, code, loginProgress(w, code.Expires.Sub(o.now())))
	switch {
	case ctx.Err() != nil:
		return interrupted
	case err != nil:
		return fmt.Errorf("login: %w", err)
	}
	fmt.Fprintln(w, "Approved. Logging in to Spotify...")
	c, err := flow.Finish(ctx, g)
	switch {
	case ctx.Err() != nil:
		return interrupted
	case err != nil:
		return fmt.Errorf("login: %w", err)
	}
	fmt.Fprintf(w, "Logged in as %s. The login is stored in %s.\n", c.Username, o.dir)
	if err := writeLoginRequest(o.dir, c.Username); err != nil {
		// The login is stored: the speaker uses it at its next start.
		fmt.Fprintf(w, "A running speaker was not told (%v); it uses the login at its next start.\n", err)
		return nil
	}
	fmt.Fprintln(w, "A running speaker switches to it within a few seconds; otherwise it is used at the next start.")
	return nil
}

// loginProgress reports the wait to the owner: once a minute how long the
// code has left, and at once when Spotify asks for a slower pace or cannot
// be reached (then it is asked again).
func loginProgress(w io.Writer, validFor time.Duration) func(devicelogin.Progress) {
	shown := minutesLeft(validFor)
	return func(p devicelogin.Progress) {
		switch p.Kind {
		case devicelogin.SlowDown:
			fmt.Fprintf(w, "Spotify asked for a slower pace: checking every %s now.\n", p.Interval)
		case devicelogin.Retrying:
			fmt.Fprintf(w, "Could not check with Spotify (%v); trying again in %s.\n", p.Err, p.Interval)
		}
		if m := minutesLeft(p.Remaining); m < shown {
			shown = m
			fmt.Fprintf(w, "Still waiting; the code is valid for another %s.\n", approxDuration(p.Remaining))
		}
	}
}

func minutesLeft(d time.Duration) int64 { return int64((d + time.Minute - 1) / time.Minute) }

// approxDuration says d the way a person would: "15 minutes", "1 minute",
// "40 seconds".
func approxDuration(d time.Duration) string {
	switch m := minutesLeft(d); {
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", int64(max(d, 0)/time.Second))
	case m == 1:
		return "1 minute"
	default:
		return fmt.Sprintf("%d minutes", m)
	}
}

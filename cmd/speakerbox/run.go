package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/internal/redact"
	"github.com/speakerbox/speakerbox/internal/statedir"
	"github.com/speakerbox/speakerbox/receiver"
	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/zeroconfsrv"
)

func runCommand() *command {
	return &command{
		name:    "run",
		summary: "be a Spotify Connect speaker (the default command)",
		setup: func(fs *flag.FlagSet) runFunc {
			printConfig := fs.Bool("print-config", false, "print the effective configuration (secrets masked) and exit")
			return func(ctx context.Context, a *app, args []string) error {
				if len(args) > 0 {
					return usagef("run takes no arguments, got %q", args)
				}
				if *printConfig {
					a.loaded.Print(a.stdout)
					return nil
				}
				return runSpeaker(ctx, a)
			}
		},
	}
}

// openState makes sure the state directory exists and returns the device id
// kept there.
func openState(a *app) (deviceID string, err error) {
	dir := a.cfg.StateDir
	if err := statedir.Ensure(dir); err != nil {
		return "", err
	}
	id, created, err := statedir.DeviceID(dir)
	if err != nil {
		return "", fmt.Errorf("state directory %q: %w", dir, err)
	}
	if created {
		a.log.Info("new device id created", "state_dir", dir, "device_id", id)
	}
	// Temporary files of writes a crash cut short: nothing else removes them.
	removed, err := statedir.RemoveStaleTemps(dir, time.Now())
	if len(removed) > 0 {
		a.log.Info("removed temporary files left by an interrupted write", "state_dir", dir, "files", len(removed))
	}
	if err != nil {
		a.log.Warn("could not remove temporary files left by an interrupted write", "err", err)
	}
	return id, nil
}

// runSpeaker runs every component of the speaker until ctx ends: the
// amplifier (off until something plays), discovery and the ZeroConf login
// API, and the Spotify login session. Discovery never depends on the
// network reaching Spotify: the speaker advertises and takes logins offline,
// and the session logs in whenever it can.
func runSpeaker(ctx context.Context, a *app) error {
	deviceID, err := openState(a)
	if err != nil {
		return err
	}
	// The amplifier: driven off now, off again on every way out.
	out, err := openOutput(ctx, a)
	if err != nil {
		return err
	}
	defer closeOutput(a, out)
	checkOutputAtStart(ctx, a.cfg, a.log)

	dt, err := zeroconfsrv.ParseDeviceType(a.cfg.DeviceType)
	if err != nil {
		return &config.Error{Key: "device_type", Value: a.cfg.DeviceType, Problem: err.Error()}
	}
	store := creds.NewStore(a.cfg.StateDir, a.log.With("component", "credentials"), time.Now)

	// The session reports logins to the ZeroConf API (activeUser) and to the
	// hooks; the API is made after the session, so the callback reaches it
	// through this variable, set before anything runs.
	var zc *zeroconfsrv.Server
	session := receiver.NewSession(receiver.SessionConfig{
		Dialer: &receiver.APDialer{
			DeviceID: deviceID,
			HTTP:     &http.Client{Timeout: 30 * time.Second},
			Log:      a.log.With("component", "ap"),
		},
		Accepted: store.Accepted,
		Rejected: func(c creds.Credentials) error {
			_, err := store.Rejected(c)
			return err
		},
		Events: func(e receiver.SessionEvent) {
			connected := e.Kind == "session_connected"
			if connected {
				zc.Handler().SetActiveUser(e.Username)
			} else {
				zc.Handler().SetActiveUser("")
			}
			out.Event(hooks.Session(connected, "", e.Username))
		},
		Log: a.log.With("component", "session"),
	})
	zc, err = zeroconfsrv.New(zeroconfsrv.Config{
		Handler: zeroconfsrv.HandlerConfig{
			Info: zeroconfsrv.Info{
				Name: a.cfg.Name, DeviceType: dt, DeviceID: deviceID,
				Model: a.cfg.Zeroconf.Model, LibraryVersion: "speakerbox " + version,
			},
			AllowedUsers: a.cfg.Zeroconf.AllowedUsers,
			ResetForgets: a.cfg.Zeroconf.ResetForgets,
			AddUserRate:  a.cfg.Zeroconf.AddUserRate,
			Logger:       a.log.With("component", "zeroconf"),
		},
		Port:       a.cfg.Zeroconf.Port,
		Interfaces: a.cfg.Zeroconf.Interfaces,
	}, store, sessionReceiver{session})
	if err != nil {
		return err
	}

	var initial *creds.Credentials
	if e, ok, err := store.Default(); err != nil {
		// The store has moved a corrupt file aside and said so; wait for a phone.
		a.log.Warn("no usable stored credentials; waiting for a phone to connect", "err", err)
	} else if ok {
		initial = &e.Credentials
		a.log.Info("logging in with stored credentials", "user", redact.Username(e.Username), "verified", e.Verified)
	} else {
		a.log.Info("no stored credentials; waiting for a phone to connect")
	}

	a.log.Info("speaker starting", "name", a.cfg.Name, "device_id", deviceID, "state_dir", a.cfg.StateDir, "version", version)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	a.Go(func() {
		defer wg.Done()
		if err := zc.Run(ctx); err != nil {
			errs <- fmt.Errorf("discovery: %w", err)
		}
	})
	a.Go(func() {
		defer wg.Done()
		if err := session.Run(ctx, initial); err != nil {
			errs <- fmt.Errorf("session: %w", err)
		}
	})
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	}
	wg.Wait()
	a.log.Info("speaker stopped")
	return runErr
}

// sessionReceiver hands the ZeroConf API's logins to the session.
type sessionReceiver struct{ s *receiver.Session }

func (r sessionReceiver) OnLogin(ctx context.Context, c creds.Credentials) {
	_ = r.s.Login(ctx, c)
}

func (r sessionReceiver) OnReset(ctx context.Context) { _ = r.s.Logout(ctx) }

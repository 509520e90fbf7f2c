package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/sdnotify"
	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/internal/redact"
	"github.com/speakerbox/speakerbox/internal/statedir"
	"github.com/speakerbox/speakerbox/receiver"
	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/receiver/playback"
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
// API, and the Spotify Connect device with its player. Discovery never
// depends on the network reaching Spotify: the speaker advertises and takes
// logins offline, and the device logs in whenever it can.
func runSpeaker(ctx context.Context, a *app) error {
	deviceID, err := openState(a)
	if err != nil {
		return err
	}
	store := creds.NewStore(a.cfg.StateDir, a.log.With("component", "credentials"), time.Now)
	api, err := openLocalAPI(a, deviceID, store) // nil when api.address is off
	if err != nil {
		return err
	}
	defer api.close()
	// The amplifier: driven off now, off again on every way out.
	out, relay, err := openOutput(ctx, a, api.emit)
	if err != nil {
		return err
	}
	defer closeOutput(a, out)
	defer relay.release() // before closeOutput: its "off" must reach a held relay
	checkOutputAtStart(ctx, a.cfg, a.log)

	dt, err := zeroconfsrv.ParseDeviceType(a.cfg.DeviceType)
	if err != nil {
		return &config.Error{Key: "device_type", Value: a.cfg.DeviceType, Problem: err.Error()}
	}
	access := a.spotifyAccess(deviceID)

	// Hook events of the player and the device go to the amplifier glue;
	// the device's session events also keep the ZeroConf API's activeUser
	// in step. The API is made after the device, so the hooks reach it
	// through zc, set before anything runs.
	var zc *zeroconfsrv.Server
	sd := newSystemd(a, os.Getenv) // systemd.go
	hk := sessionHooks{out: out, active: func(user string) { zc.Handler().SetActiveUser(user) }, status: sd.status}
	pl, sink, err := newConnectPlayer(a, out, hk, access)
	if err != nil {
		return err
	}
	defer pl.Close()
	// A pipe whose reader stopped reading (a hung snapserver) must not
	// hold up the shutdown: the end of ctx interrupts its write.
	defer interruptOnCancel(ctx, sink)()
	local := watchLocalVolume(ctx, a, sink, pl)

	// `speakerbox login` run beside the speaker leaves a request for the
	// login it stored; the watch hands it to the device. Made before the
	// stored login is read: it drops a request from before this start,
	// which that read already covers.
	var dev *receiver.Device
	watch := NewLoginWatch(store, func(ctx context.Context, c creds.Credentials) error { return dev.Login(ctx, c) },
		a.log.With("component", "login"))

	var initial *creds.Credentials
	if e, ok, err := store.Default(); err != nil {
		// The store has moved a corrupt file aside and said so; wait for a phone.
		a.log.Warn("no usable stored credentials; waiting for a phone to connect", "err", err)
	} else if ok {
		initial = &e.Credentials
		sd.status.loggingIn(e.Username)
		a.log.Info("logging in with stored credentials", "user", redact.Username(e.Username), "verified", e.Verified)
	} else {
		a.log.Info("no stored credentials; waiting for a phone to connect")
	}

	dev, err = receiver.NewDevice(receiver.DeviceConfig{
		HTTP:        access.HTTP,
		Dialer:      access.Dialer,
		Credentials: initial,
		Accepted:    store.Accepted,
		Rejected: func(c creds.Credentials) error {
			_, err := store.Rejected(c)
			return err
		},
		LoggedOut: func(user string) {
			a.log.Info("logged out from an app; waiting for a phone to connect", "user", redact.Username(user))
		},
		Player:          pl,
		Hooks:           hk,
		Amp:             out,
		LocalVolume:     local,
		StateDir:        a.cfg.StateDir,
		DeviceID:        deviceID,
		Name:            a.cfg.Name,
		Type:            dt,
		SoftwareVersion: "speakerbox " + version,
		InitialVolume:   percentToVolume(a.cfg.Audio.InitialVolume),
		MaxVolume:       connectMaxVolume(a.cfg),
		Autoplay:        a.cfg.ConnectAutoplay(),
		Log:             a.log.With("component", "connect"),
		ClockFloor:      clockFloor(a.cfg.StateDir),
	})
	if err != nil {
		return err
	}
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
	}, store, deviceReceiver{dev})
	if err != nil {
		return err
	}
	api.wire(relay, deviceControl{dev}, deviceStatus{dev}, zc)
	api.wireMetrics(speakerMetrics(out, pl, dev, zc), pl.AudioStats)
	api.wireLive(liveParts{device: dev, discovery: zc, amp: out, softCap: pl, hardware: a.cfg.Audio.Mixer != ""})

	a.log.Info("speaker starting", "name", a.cfg.Name, "device_id", deviceID, "state_dir", a.cfg.StateDir, "version", version)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(5)
	a.Go(func() {
		defer wg.Done()
		sd.run(ctx, zc, map[string]sdnotify.Pinger{"zeroconf": zc, "player": pl, "connect": dev})
	})
	a.Go(func() {
		defer wg.Done()
		_ = watch.Run(ctx) // nil when ctx ends
	})
	a.Go(func() {
		defer wg.Done()
		if err := zc.Run(ctx); err != nil {
			errs <- fmt.Errorf("discovery: %w", err)
		}
	})
	a.Go(func() {
		defer wg.Done()
		if err := dev.Run(ctx); err != nil {
			errs <- fmt.Errorf("connect: %w", err)
		}
	})
	a.Go(func() {
		defer wg.Done()
		if err := api.run(ctx, dev.StatusChanged); err != nil {
			errs <- err
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

// deviceReceiver hands the ZeroConf API's logins and resets to the device.
type deviceReceiver struct{ d *receiver.Device }

func (r deviceReceiver) OnLogin(ctx context.Context, c creds.Credentials) { _ = r.d.Login(ctx, c) }

func (r deviceReceiver) OnReset(ctx context.Context) { _ = r.d.Logout(ctx) }

// sessionHooks passes hook events on to the amplifier glue (which runs
// them in order with the sink's) and keeps the ZeroConf API's activeUser
// in step with the session.
type sessionHooks struct {
	out    *playback.Output
	active func(user string)
	status *speakerStatus // systemd's STATUS= line
}

func (h sessionHooks) Emit(ev hooks.Event) {
	h.status.Emit(ev)
	switch ev.Name {
	case hooks.SessionConnected:
		h.active(ev.Vars["USER_NAME"])
	case hooks.SessionDisconnected:
		h.active("")
	}
	h.out.Event(ev)
}

// connectMaxVolume is the cap on the Connect volume. With software volume
// audio.max_volume scales the whole slider in the player (the top of the
// slider plays as loud as max_volume did), so the apps keep the full range
// and nothing caps it here. A hardware mixer control takes the volume as it
// is: there the cap is on the slider itself.
func connectMaxVolume(c *config.Config) uint32 {
	if c.Audio.Mixer == "" {
		return 0
	}
	return percentToVolume(c.Audio.MaxVolume)
}

// percentToVolume maps a percentage (audio.initial_volume) to Spotify's
// 0..65535 volume scale.
func percentToVolume(p int) uint32 {
	p = min(max(p, 0), 100)
	return uint32(p * 65535 / 100)
}

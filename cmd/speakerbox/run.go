package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/speakerbox/speakerbox/receiver/statedir"
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
	return id, nil
}

// runSpeaker runs every component of the speaker until ctx ends.
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
	a.log.Info("speaker starting", "name", a.cfg.Name, "device_id", deviceID, "state_dir", a.cfg.StateDir, "version", version)
	<-ctx.Done()
	a.log.Info("speaker stopped")
	return nil
}

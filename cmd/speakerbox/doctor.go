package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/speakerbox/speakerbox/receiver/statedir"
)

// doctorTopic is one check of `speakerbox doctor`.
type doctorTopic struct {
	name    string
	summary string
	// inAll: `speakerbox doctor` with no topic runs it (it needs no options
	// and changes nothing).
	inAll bool
	setup func(fs *flag.FlagSet) runFunc
}

func doctorTopics() []*doctorTopic {
	return []*doctorTopic{
		{name: "config", summary: "check the configuration and show where it comes from", inAll: true, setup: doctorConfig},
		{name: "state", summary: "check the state directory and the device id", inAll: true, setup: doctorState},
		{name: "audio", summary: "list the ALSA devices and what they take; check the configured output", inAll: true, setup: doctorAudio},
		{name: "gpio", summary: "find the amplifier relay line; --on, --off, --blink drive it by hand", inAll: true, setup: doctorGPIO},
	}
}

func doctorCommand() *command {
	return &command{
		name:    "doctor",
		args:    "[TOPIC [TOPIC OPTIONS]]",
		summary: "check the installation; topics: " + topicNames(),
		// Each topic has options of its own.
		subOptions: true,
		setup: func(fs *flag.FlagSet) runFunc {
			return func(ctx context.Context, a *app, args []string) error {
				if len(args) == 0 {
					var failed []string
					for _, t := range doctorTopics() {
						if !t.inAll {
							continue
						}
						fmt.Fprintf(a.stdout, "== %s\n", t.name)
						run := t.setup(flag.NewFlagSet(t.name, flag.ContinueOnError))
						if err := run(ctx, a, nil); err != nil {
							fmt.Fprintf(a.stdout, "FAIL: %v\n", err)
							failed = append(failed, t.name)
						}
					}
					if len(failed) > 0 {
						return fmt.Errorf("doctor: %s failed", strings.Join(failed, ", "))
					}
					return nil
				}
				for _, t := range doctorTopics() {
					if t.name != args[0] {
						continue
					}
					tfs := flag.NewFlagSet("speakerbox doctor "+t.name, flag.ContinueOnError)
					tfs.SetOutput(a.stderr)
					run := t.setup(tfs)
					rest, err := parseArgs(tfs, args[1:], false)
					if errors.Is(err, errHelp) {
						optionsUsage(a.stdout, tfs)
						return nil
					}
					if err != nil {
						return err
					}
					return run(ctx, a, rest)
				}
				return usagef("doctor: unknown topic %q (topics: %s)", args[0], topicNames())
			}
		},
	}
}

func topicNames() string {
	var names []string
	for _, t := range doctorTopics() {
		names = append(names, t.name)
	}
	return strings.Join(names, ", ")
}

func doctorConfig(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, a *app, args []string) error {
		if a.loaded.File != "" {
			fmt.Fprintf(a.stdout, "configuration file: %s\n", a.loaded.File)
		} else {
			fmt.Fprintf(a.stdout, "no configuration file (looked for %s): using defaults\n", defaultConfigPath)
		}
		fmt.Fprintf(a.stdout, "OK: configuration valid; device %q (%s), output %s %s\n",
			a.cfg.Name, a.cfg.DeviceType, a.cfg.Audio.Output, a.cfg.Audio.Device)
		return nil
	}
}

func doctorState(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, a *app, args []string) error {
		dir := a.cfg.StateDir
		fmt.Fprintf(a.stdout, "state directory: %s\n", dir)
		if err := statedir.Ensure(dir); err != nil {
			return err
		}
		probe := filepath.Join(dir, ".doctor-probe")
		if err := statedir.WriteFileAtomic(probe, []byte("ok"), 0o600); err != nil {
			return fmt.Errorf("state directory is not writable: %w", err)
		}
		_ = os.Remove(probe)
		id, _, err := statedir.DeviceID(dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "OK: writable; device id %s\n", id)
		return nil
	}
}

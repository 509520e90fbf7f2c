package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/speakerbox/speakerbox/internal/statedir"
)

// doctorTopic is one check of `speakerbox doctor`.
type doctorTopic struct {
	name    string
	summary string
	// inAll: `speakerbox doctor` with no topic runs it (it needs no options
	// and changes nothing).
	inAll bool
	// advice is the line that says what to do when the topic finds a
	// problem.
	advice string
	setup  func(fs *flag.FlagSet) runFunc
}

// notApplicable is what a topic returns when the configured setup does not
// use what it checks (no relay line, say): not a problem.
type notApplicable struct{ why string }

func (n *notApplicable) Error() string { return "not applicable: " + n.why }

func doctorTopics() []*doctorTopic {
	return []*doctorTopic{
		{name: "config", summary: "check the configuration and show where it comes from", inAll: true, setup: doctorConfig,
			advice: "fix the configuration file or the SPEAKERBOX_* variables ('speakerbox run --print-config' shows where each value comes from)"},
		{name: "state", summary: "check the state directory and the device id", inAll: true, setup: doctorState,
			advice: "make the state directory writable for the user speakerbox runs as, or choose another with state_dir"},
		{name: "audio", summary: "list the ALSA devices and what they take; check the configured output", inAll: true, setup: doctorAudio,
			advice: "set audio.device to a device 'speakerbox doctor audio' lists (and stop whatever holds it), or, on a machine without a sound card, set audio.output to pipe, wav or null"},
		{name: "gpio", summary: "find the amplifier relay line; --on, --off, --blink drive it by hand", inAll: true, setup: doctorGPIO,
			advice: "check gpio.relay_line with 'speakerbox doctor gpio --line NAME' (GPIO17 or chip:offset), or leave it empty if no relay is wired"},
		{name: "report", summary: "write one text file for a bug report (secrets masked); --output FILE", setup: doctorReport,
			advice: "give --output a path in a writable directory"},
	}
}

// doctorAll runs every topic that needs no options and reports each as
// ok, problem or not applicable. Only a problem of the configured setup
// fails the command, and each problem comes with what to do.
func doctorAll(ctx context.Context, a *app) error {
	type result struct {
		t      *doctorTopic
		status string
	}
	var results []result
	var problems []*doctorTopic
	for _, t := range doctorTopics() {
		if !t.inAll {
			continue
		}
		fmt.Fprintf(a.stdout, "== %s\n", t.name)
		run := t.setup(flag.NewFlagSet(t.name, flag.ContinueOnError))
		err := run(ctx, a, nil)
		var na *notApplicable
		status := "ok"
		switch {
		case err == nil:
		case errors.As(err, &na):
			status = na.Error()
			fmt.Fprintln(a.stdout, status)
		default:
			fmt.Fprintf(a.stdout, "PROBLEM: %v\n", err)
			status = "PROBLEM (see above)"
			problems = append(problems, t)
		}
		results = append(results, result{t, status})
	}
	fmt.Fprintln(a.stdout, "== summary")
	for _, r := range results {
		fmt.Fprintf(a.stdout, "%-7s %s\n", r.t.name, r.status)
	}
	if len(problems) == 0 {
		return nil
	}
	var names []string
	for _, t := range problems {
		fmt.Fprintf(a.stdout, "what to do (%s): %s\n", t.name, t.advice)
		names = append(names, t.name)
	}
	return fmt.Errorf("doctor: problem with %s; see above for what to do", strings.Join(names, ", "))
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
					return doctorAll(ctx, a)
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
					err = run(ctx, a, rest)
					var na *notApplicable
					if errors.As(err, &na) {
						fmt.Fprintln(a.stdout, na.Error())
						return nil
					}
					if err != nil && !isUsage(err) {
						return fmt.Errorf("%w\nwhat to do: %s", err, t.advice)
					}
					return err
				}
				return usagef("doctor: unknown topic %q (topics: %s)", args[0], topicNames())
			}
		},
	}
}

func isUsage(err error) bool {
	var ue *usageError
	return errors.As(err, &ue)
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
		if a.loaded.Settings != "" {
			fmt.Fprintf(a.stdout, "settings saved from the web page: %s (over the file)\n", a.loaded.Settings)
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

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/timesync"
	"github.com/speakerbox/speakerbox/internal/statedir"
)

// buildTime is set at link time to the build's Unix time (the Makefile uses
// the last commit's time, so builds stay reproducible):
// -ldflags "-X main.buildTime=1764806400". Without it the VCS time Go
// records, if any, stands in.
var buildTime = ""

// binaryBuildTime is the earliest time the clock can plausibly read: this
// binary did not exist before it. Zero when unknown.
func binaryBuildTime() time.Time {
	if n, err := strconv.ParseInt(buildTime, 10, 64); err == nil && n > 0 {
		return time.Unix(n, 0)
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" {
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
					return t
				}
			}
		}
	}
	return time.Time{}
}

// clockFloor is the earliest time the clock can plausibly read on this
// speaker: the build time, or the time saved in the state directory at the
// last shutdown. The device will not try TLS before it.
func clockFloor(stateDir string) time.Time {
	return timesync.ReadFloor(stateDir, binaryBuildTime())
}

// timesyncCommand sets the clock of a speaker that has no battery-backed
// clock and no NTP daemon (the images built from Debian's BusyBox, which has
// no ntpd). It is its own command rather than part of run because setting
// the clock is the system's business, needs root, and must go on across the
// speaker's restarts and crashes: the init script starts it once, in the
// background, and stops it (saving the time) at shutdown.
func timesyncCommand() *command {
	return &command{
		name:    "timesync",
		summary: "set the system clock from NTP (time.servers) and keep the last known time in the state directory",
		setup: func(fs *flag.FlagSet) runFunc {
			once := fs.Bool("once", false, "set the clock once, then exit (retries until an answer is sane)")
			return func(ctx context.Context, a *app, args []string) error {
				if len(args) > 0 {
					return usagef("timesync takes no arguments, got %q", args)
				}
				if err := statedir.Ensure(a.cfg.StateDir); err != nil {
					return err
				}
				s, err := timesync.New(timesync.Config{
					Servers:  a.cfg.Time.Servers,
					StateDir: a.cfg.StateDir,
					Build:    binaryBuildTime(),
					Now:      time.Now,
					Set:      setSystemClock,
					Log:      a.log.With("component", "timesync"),
				})
				if err != nil {
					return err
				}
				known := "none"
				if f := s.Floor(); !f.IsZero() {
					known = f.UTC().Format(time.RFC3339)
				}
				a.log.Info("setting the clock from NTP", "servers", a.cfg.Time.Servers, "last_known_time", known)
				if *once {
					return s.Once(ctx)
				}
				return s.Run(ctx)
			}
		},
	}
}

// setSystemClock sets the wall clock (settimeofday); it needs root or
// CAP_SYS_TIME, and says so.
func setSystemClock(t time.Time) error {
	tv := unix.NsecToTimeval(t.UnixNano())
	err := unix.Settimeofday(&tv)
	if errors.Is(err, syscall.EPERM) {
		return fmt.Errorf("%w (setting the clock needs root or CAP_SYS_TIME)", err)
	}
	return err
}

// Package timesync sets the system clock of a machine without a
// battery-backed clock (a Raspberry Pi) from NTP servers, never backwards
// past a floor: the binary's build time, or the time saved on the data
// partition at the last shutdown. It keeps that floor up to date.
//
// The NTP exchange itself is github.com/beevik/ntp (a small, well-kept
// client) rather than protocol code of our own; this package decides
// whether an answer is sane and what to do with it.
package timesync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/ntp"

	"github.com/speakerbox/speakerbox/internal/statedir"
)

// FloorFile is the file in the state directory that holds the last known
// time: whole seconds since 1970, one line. The image's clock init script
// (S20clock) reads and writes the same file.
const FloorFile = "clock"

// Log messages other parts (the image checks) look for.
const (
	SetMsg     = "clock set from NTP"
	InStepMsg  = "clock checked against NTP; it was right"
	IgnoredMsg = "NTP answer ignored: it is before the last known time"
	RetryMsg   = "could not set the clock from NTP; will retry"
	// OverruledMsg: the saved time was in the future (saved from a wrong
	// clock) and two servers agreed on the real one.
	OverruledMsg = "the last known time is in the future: two NTP servers agree on an earlier time; setting the clock back to it and replacing the saved time"
)

// Agree is how close two servers' answers must be for them to overrule a
// saved floor in the future. One server alone could be wrong or forged;
// two independent ones agreeing within 2 s are not, and a floor saved from
// a wrong clock (set by hand, a bad server once) must not stick forever.
const Agree = 2 * time.Second

// ReadFloor returns the later of build and the time saved in stateDir;
// a missing or damaged file counts as none (zero time when both are).
func ReadFloor(stateDir string, build time.Time) time.Time {
	floor := build
	b, err := os.ReadFile(filepath.Join(stateDir, FloorFile))
	if err != nil {
		return floor
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 {
		return floor
	}
	if t := time.Unix(n, 0); t.After(floor) {
		floor = t
	}
	return floor
}

// SaveFloor writes t to stateDir's floor file atomically, so that a power
// cut leaves the old time or the new one.
func SaveFloor(stateDir string, t time.Time) error {
	p := filepath.Join(stateDir, FloorFile)
	if err := statedir.WriteFileAtomic(p, []byte(strconv.FormatInt(t.Unix(), 10)+"\n"), 0o644); err != nil {
		return fmt.Errorf("save the last known time: %w", err)
	}
	return nil
}

// Config configures a Syncer. Servers, StateDir, Now and Set are required.
type Config struct {
	// Servers are asked in order, "host" or "host:port" (port 123 when
	// none); the first sane answer wins.
	Servers  []string
	StateDir string
	// Build is the binary's build time: the clock is never set before it.
	Build time.Time
	// Now reads the system clock; Set sets it (settimeofday).
	Now func() time.Time
	Set func(time.Time) error
	// After waits (time.After); Jitter returns [0,1) (rand.Float64).
	After  func(time.Duration) <-chan time.Time
	Jitter func() float64
	Log    *slog.Logger

	// Timeout bounds one query (5 s).
	Timeout time.Duration
	// Dial opens the socket to a server ("host:port"), closing it when
	// ctx ends; nil is UDP. Tests replace it.
	Dial func(ctx context.Context, local, remote string) (net.Conn, error)
	// Retry backoff after a failed round: from MinBackoff (2 s) doubling
	// to MaxBackoff (5 min), each wait drawn from the upper half.
	MinBackoff, MaxBackoff time.Duration
	// Resync is how often a synced clock is checked again and the floor
	// saved (1 h).
	Resync time.Duration
	// MaxStep: a clock off by less than this is left alone (500 ms): a
	// step is a jump every timestamp in the logs sees.
	MaxStep time.Duration
}

// Syncer keeps the system clock set from NTP.
type Syncer struct {
	cfg   Config
	floor time.Time
	saved time.Time // when the floor was last written (by Now)
}

// New checks cfg and reads the floor.
func New(cfg Config) (*Syncer, error) {
	switch {
	case len(cfg.Servers) == 0:
		return nil, errors.New("timesync: no NTP servers")
	case cfg.StateDir == "":
		return nil, errors.New("timesync: Config.StateDir is empty")
	case cfg.Now == nil || cfg.Set == nil:
		return nil, errors.New("timesync: Config.Now and Config.Set are required")
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Dial == nil {
		cfg.Dial = dialUDP
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 2 * time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Minute, cfg.MinBackoff)
	}
	if cfg.Resync <= 0 {
		cfg.Resync = time.Hour
	}
	if cfg.MaxStep <= 0 {
		cfg.MaxStep = 500 * time.Millisecond
	}
	return &Syncer{cfg: cfg, floor: ReadFloor(cfg.StateDir, cfg.Build)}, nil
}

// Floor is the earliest time the clock may be set to.
func (s *Syncer) Floor() time.Time { return s.floor }

// Run keeps the clock set until ctx ends: it syncs now, retrying with
// backoff until an answer is sane, then every Resync; it saves the floor
// after every sync, at least every Resync, and at the end. Only a clock
// that cannot be set at all (no permission) ends it early, with an error.
func (s *Syncer) Run(ctx context.Context) error {
	return s.run(ctx, false)
}

// Once syncs the clock once, retrying with backoff until an answer is sane
// or ctx ends, and saves the floor.
func (s *Syncer) Once(ctx context.Context) error {
	return s.run(ctx, true)
}

func (s *Syncer) run(ctx context.Context, once bool) error {
	defer s.save()
	failures := 0
	for {
		err := s.Sync(ctx)
		var wait time.Duration
		switch {
		case errors.Is(err, errSet):
			return err
		case err == nil:
			failures = 0
			s.save()
			if once {
				return nil
			}
			wait = s.cfg.Resync
		default:
			failures++
			wait = s.backoff(failures)
			s.cfg.Log.Warn(RetryMsg, "err", err, "retry_in", wait.Round(time.Millisecond), "failures", failures)
			if now := s.cfg.Now(); now.Sub(s.saved) >= s.cfg.Resync {
				s.save()
			}
		}
		select {
		case <-ctx.Done():
			if once {
				return fmt.Errorf("clock not set from NTP: %w", ctx.Err())
			}
			return nil
		case <-s.cfg.After(wait):
		}
	}
}

// errSet marks a failure to set the clock (as opposed to reach a server).
var errSet = errors.New("set the system clock")

// Sync asks the servers in order and sets the clock from the first sane
// answer: one the library validates (stratum, leap, dispersion, freshness)
// and that is not before the floor. Answers before a saved floor (never
// before the build time) count if two servers agree within Agree.
func (s *Syncer) Sync(ctx context.Context) error {
	var errs []error
	type early struct {
		server string
		offset time.Duration
	}
	var earlies []early
	for _, server := range s.cfg.Servers {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		resp, err := ntp.QueryWithOptions(server, ntp.QueryOptions{Timeout: s.cfg.Timeout, GetSystemTime: s.cfg.Now,
			Dialer: func(local, remote string) (net.Conn, error) { return s.cfg.Dial(ctx, local, remote) }})
		if err == nil {
			err = resp.Validate()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("NTP server %s: %w", server, err))
			continue
		}
		now := s.cfg.Now()
		target := now.Add(resp.ClockOffset)
		if target.Before(s.floor) && !target.Before(s.cfg.Build) {
			for _, e := range earlies {
				// Offsets from the same local clock: they compare
				// whatever time passed between the two queries.
				if e.server != server && (e.offset-resp.ClockOffset).Abs() <= Agree {
					return s.overrule(e.server, server, now, target, resp.ClockOffset)
				}
			}
			earlies = append(earlies, early{server, resp.ClockOffset})
		}
		if target.Before(s.floor) {
			s.cfg.Log.Warn(IgnoredMsg, "server", server, "answer", stamp(target), "last_known_time", stamp(s.floor))
			errs = append(errs, fmt.Errorf("NTP server %s: answer %s is before the last known time %s", server, stamp(target), stamp(s.floor)))
			continue
		}
		if resp.ClockOffset.Abs() < s.cfg.MaxStep {
			s.cfg.Log.Debug(InStepMsg, "server", server, "offset", resp.ClockOffset)
			return nil
		}
		if err := s.cfg.Set(target); err != nil {
			return fmt.Errorf("%w to %s: %w", errSet, stamp(target), err)
		}
		s.cfg.Log.Info(SetMsg, "server", server, "from", stamp(now), "now", stamp(target), "offset", resp.ClockOffset.Round(time.Millisecond))
		return nil
	}
	return errors.Join(errs...)
}

// overrule sets the clock back to target, which two servers agreed on,
// although it is before the saved floor, and replaces the saved floor.
func (s *Syncer) overrule(first, second string, now, target time.Time, offset time.Duration) error {
	s.cfg.Log.Warn(OverruledMsg, "servers", first+","+second, "last_known_time", stamp(s.floor), "from", stamp(now), "now", stamp(target), "offset", offset.Round(time.Millisecond))
	if offset.Abs() >= s.cfg.MaxStep {
		if err := s.cfg.Set(target); err != nil {
			return fmt.Errorf("%w to %s: %w", errSet, stamp(target), err)
		}
	}
	// Lowered to the build time so that save (which never lowers the
	// floor) writes the real time over the wrong one.
	s.floor = s.cfg.Build
	s.save()
	return nil
}

// save writes the current time as the floor, unless the clock is behind
// the floor (it must never lower it).
func (s *Syncer) save() {
	now := s.cfg.Now()
	s.saved = now
	if now.Before(s.floor) {
		return
	}
	if err := SaveFloor(s.cfg.StateDir, now); err != nil {
		s.cfg.Log.Warn("could not save the time for the next boot", "err", err)
		return
	}
	s.floor = time.Unix(now.Unix(), 0)
}

func (s *Syncer) backoff(failures int) time.Duration {
	b := s.cfg.MinBackoff
	for i := 1; i < failures && b < s.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, s.cfg.MaxBackoff)
	return b/2 + time.Duration(float64(b/2)*s.cfg.Jitter())
}

// dialUDP dials like the library's own dialer, but under ctx: the library
// takes no context, so the end of ctx closes the socket, which ends a
// query waiting for its answer at once (a shutdown must not wait for it).
func dialUDP(ctx context.Context, local, remote string) (net.Conn, error) {
	d := net.Dialer{}
	if local != "" {
		d.LocalAddr = &net.UDPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.DialContext(ctx, "udp", remote)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return &ctxConn{Conn: c, stop: stop}, nil
}

type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Package sdnotify tells systemd how the speaker is doing, through the
// notify protocol of a Type=notify unit: READY=1 once discovery is up,
// STATUS= with a line a person can read in `systemctl status`, and
// WATCHDOG=1 only while every loop that could wedge has just proved that
// it is alive by answering a ping. A timer goroutine that pets the
// watchdog whatever happens would prove nothing; here a wedged loop stops
// the petting, and systemd restarts the speaker.
//
// The protocol itself is go-systemd's daemon package (SdNotify,
// SdWatchdogEnabled). Without NOTIFY_SOCKET (not under systemd, or not a
// notify unit) every send is a no-op.
package sdnotify

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Pinger is a loop that can prove it is alive: Ping returns once the loop
// itself has answered, or with ctx's error when it did not in time.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Check is one loop the watchdog asks, by the name the log gives it.
type Check struct {
	Name   string
	Pinger Pinger
}

// Timer is a clock's timer or ticker: its channel, and a function that
// stops it.
type Timer func(d time.Duration) (c <-chan time.Time, stop func())

// Config configures a Notifier.
type Config struct {
	// Send delivers one notification (several NAME=value lines). Default:
	// go-systemd's daemon.SdNotify, a no-op without NOTIFY_SOCKET.
	Send func(state string) error
	// Watchdog is systemd's WatchdogSec (WATCHDOG_USEC, see FromEnv); 0
	// turns the watchdog off (nothing is pinged).
	Watchdog time.Duration
	// Checks are the loops a round of pings asks.
	Checks []Check
	// Tick starts the ticker of the rounds and After the timer that ends a
	// round; defaults are time's. Tests inject both.
	Tick  Timer
	After Timer
	Log   *slog.Logger
	// Restarting, when it says true as Run ends, leaves STOPPING=1 out:
	// the process has sent RELOADING=1 and starts again in place, and
	// STOPPING=1 would have systemd stop the service instead.
	Restarting func() bool
}

// FromEnv reads what systemd set: whether notifications are wanted at all
// (NOTIFY_SOCKET) and the watchdog's timeout (WATCHDOG_USEC, for this
// process: WATCHDOG_PID). getenv is os.Getenv in production; the watchdog
// value is read by go-systemd from the process environment.
func FromEnv(getenv func(string) string) (enabled bool, watchdog time.Duration, err error) {
	if getenv("NOTIFY_SOCKET") == "" {
		return false, 0, nil
	}
	w, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return true, 0, fmt.Errorf("systemd watchdog: %w", err)
	}
	return true, w, nil
}

// Notifier sends READY, STATUS and WATCHDOG notifications from one
// goroutine (Run), so that the goroutines reporting state (the player's
// among them) never wait for the socket.
type Notifier struct {
	cfg  Config
	log  *slog.Logger
	kick chan struct{}

	mu       sync.Mutex
	ready    bool // Ready was called
	sentRdy  bool // READY=1 went out
	status   string
	sentStat string
}

// New prepares a Notifier; Run sends.
func New(cfg Config) *Notifier {
	if cfg.Send == nil {
		cfg.Send = func(state string) error {
			_, err := daemon.SdNotify(false, state)
			return err
		}
	}
	if cfg.Tick == nil {
		cfg.Tick = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	if cfg.After == nil {
		cfg.After = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTimer(d)
			return t.C, func() { t.Stop() }
		}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{cfg: cfg, log: cfg.Log, kick: make(chan struct{}, 1)}
}

// Interval is how often the loops are pinged: half the watchdog's
// timeout, as sd_watchdog_enabled(3) advises.
func (n *Notifier) Interval() time.Duration { return n.cfg.Watchdog / 2 }

// PingTimeout is how long a round waits for every loop. With a round every
// Interval, a loop that takes this long still lets the pet arrive within
// 1.75 Interval of the previous one, 0.875 of the watchdog's timeout: the
// rest is slack for a loaded machine to get the datagram to systemd.
func (n *Notifier) PingTimeout() time.Duration { return n.Interval() * 3 / 4 }

// Ready says that the service is up (READY=1); it never blocks.
func (n *Notifier) Ready() {
	n.mu.Lock()
	n.ready = true
	n.mu.Unlock()
	n.wake()
}

// SetStatus sets the STATUS= line; it never blocks, and only the latest
// status is sent when several come before Run gets to them. Control
// characters are replaced: a newline would start a new assignment, so a
// track called "x\nWATCHDOG=1" could otherwise pet the watchdog.
func (n *Notifier) SetStatus(s string) {
	s = cleanStatus(s)
	n.mu.Lock()
	n.status = s
	n.mu.Unlock()
	n.wake()
}

func (n *Notifier) wake() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// maxStatus bounds the STATUS line (systemd shows one line; a podcast
// title can be long).
const maxStatus = 200

func cleanStatus(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxStatus {
		cut := maxStatus
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// Run sends notifications until ctx ends, then STOPPING=1 (unless
// Restarting). With a
// watchdog it pings every Check each Interval and sends WATCHDOG=1 after a
// round in which all of them answered within PingTimeout. When one does
// not, it says which in the log and in STATUS and pets no more: systemd
// then restarts the speaker (its WatchdogSignal, SIGABRT by default, makes
// the Go runtime print every goroutine's stack to the journal first).
func (n *Notifier) Run(ctx context.Context) error {
	var tickC <-chan time.Time
	stopTick := func() {}
	if n.cfg.Watchdog > 0 {
		tickC, stopTick = n.cfg.Tick(n.Interval())
	}
	defer func() { stopTick() }()

	var wg sync.WaitGroup
	defer wg.Wait()
	rctx, cancelRounds := context.WithCancel(ctx)
	defer cancelRounds()
	results := make(chan []string, 1)
	inRound := false

	for {
		select {
		case <-ctx.Done():
			if n.cfg.Restarting == nil || !n.cfg.Restarting() {
				n.send("STOPPING=1")
			}
			return nil
		case <-n.kick:
			n.flush()
		case <-tickC:
			if inRound {
				// The previous round has not ended: it will report.
				continue
			}
			inRound = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				results <- n.round(rctx)
			}()
		case missing := <-results:
			inRound = false
			if ctx.Err() != nil {
				continue // ctx.Done is ready too
			}
			if len(missing) == 0 {
				n.send(daemon.SdNotifyWatchdog)
				continue
			}
			stopTick()
			tickC, stopTick = nil, func() {}
			n.log.Error("watchdog: a loop did not answer; no longer telling systemd we are alive, so that it restarts the speaker",
				"loops", strings.Join(missing, ","), "timeout", n.PingTimeout())
			n.SetStatus(fmt.Sprintf("Stuck: %s did not answer within %s; waiting for systemd's watchdog to restart the speaker",
				strings.Join(missing, ", "), n.PingTimeout()))
		}
	}
}

// flush sends what changed since the last notification: READY=1 (with
// the status, in one datagram) and STATUS=.
func (n *Notifier) flush() {
	n.mu.Lock()
	var lines []string
	if n.ready && !n.sentRdy {
		n.sentRdy = true
		lines = append(lines, daemon.SdNotifyReady)
	}
	if n.status != n.sentStat {
		n.sentStat = n.status
		lines = append(lines, "STATUS="+n.status)
	}
	n.mu.Unlock()
	if len(lines) > 0 {
		n.send(strings.Join(lines, "\n"))
	}
}

func (n *Notifier) send(state string) {
	if err := n.cfg.Send(state); err != nil {
		// Not worth stopping for: the speaker plays without systemd's
		// bookkeeping (a missing watchdog pet is logged by systemd itself).
		n.log.Warn("systemd notification failed", "err", err)
	}
}

// round pings every check at once and returns the names of those that
// failed or did not answer within PingTimeout, sorted. At the timeout the
// pings' context ends and the round waits for every Ping to return (they
// honour it): a loop is judged by what its own Ping returned, never by
// which of two ready channels a select happened to take.
func (n *Notifier) round(parent context.Context) []string {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	timeout, stop := n.cfg.After(n.PingTimeout())
	defer stop()

	errs := make([]error, len(n.cfg.Checks))
	var wg sync.WaitGroup
	for i, c := range n.cfg.Checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Pinger.Ping(ctx)
		}()
	}
	all := make(chan struct{})
	go func() {
		wg.Wait()
		close(all)
	}()
	select {
	case <-all:
	case <-timeout:
		cancel()
		<-all
	case <-parent.Done():
		<-all
		return nil // shutting down: nobody is judged
	}
	var failed []string
	for i, c := range n.cfg.Checks {
		if errs[i] != nil {
			n.log.Warn("watchdog: ping failed", "loop", c.Name, "err", errs[i])
			failed = append(failed, c.Name)
		}
	}
	slices.Sort(failed)
	return failed
}

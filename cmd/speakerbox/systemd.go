package main

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/sdnotify"
	"github.com/speakerbox/speakerbox/internal/redact"
	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/zeroconfsrv"
)

// systemd is the speaker under a Type=notify unit (see the unit in
// buildroot/board/speakerbox/speakerbox.service): READY=1 once discovery
// is up, STATUS= from the session's hook events, and the watchdog. Off
// systemd (no NOTIFY_SOCKET) it only keeps the status line, which costs a
// lock per event.
type systemd struct {
	a        *app
	enabled  bool
	watchdog time.Duration
	status   *speakerStatus
	// tick and after replace the clock of the watchdog's rounds in tests.
	tick, after sdnotify.Timer
}

func newSystemd(a *app, getenv func(string) string) *systemd {
	enabled, w, err := sdnotify.FromEnv(getenv)
	if err != nil {
		// A bad WATCHDOG_USEC is systemd's business; run without a watchdog.
		a.log.Warn("systemd watchdog setting not usable; running without the watchdog", "err", err)
	}
	sd := &systemd{a: a, enabled: enabled, watchdog: w}
	sd.status = &speakerStatus{set: func(string) {}}
	return sd
}

// run sends notifications until ctx ends: READY=1 once zc's first round of
// listening and advertising is done, and, with a watchdog, WATCHDOG=1 while
// every loop answers its ping. pingers are the loops by name; a nil one is
// left out.
func (sd *systemd) run(ctx context.Context, zc *zeroconfsrv.Server, pingers map[string]sdnotify.Pinger) {
	if !sd.enabled {
		return
	}
	var checks []sdnotify.Check
	var names []string
	for _, name := range []string{"zeroconf", "player", "connect"} {
		if p := pingers[name]; p != nil {
			checks = append(checks, sdnotify.Check{Name: name, Pinger: p})
			names = append(names, name)
		}
	}
	n := sdnotify.New(sdnotify.Config{
		Watchdog: sd.watchdog, Checks: checks, Tick: sd.tick, After: sd.after,
		Log: sd.a.log.With("component", "systemd"), Restarting: sd.a.restart.restarting,
	})
	if sd.watchdog > 0 {
		sd.a.log.Info("systemd watchdog on", "timeout", sd.watchdog, "ping_every", n.Interval(), "loops", strings.Join(names, ","))
		sd.warnSlowHooks(n.PingTimeout())
	}
	sd.status.attach(n.SetStatus)
	readyDone := make(chan struct{})
	go func() {
		defer close(readyDone)
		select {
		case <-zc.Ready():
			n.Ready()
		case <-ctx.Done():
		}
	}()
	_ = n.Run(ctx) // nil when ctx ends
	<-readyDone
}

// warnSlowHooks: the audio output waits for the amplifier's warm-up and
// the sink hook before it opens the device (and cannot answer a ping
// meanwhile), so hooks slower than the ping timeout would have the
// watchdog restart a speaker that is only waiting for them.
func (sd *systemd) warnSlowHooks(pingTimeout time.Duration) {
	c := sd.a.cfg
	if c.Hooks.OnEvent == "" && c.Hooks.AmpOnCommand == "" {
		return
	}
	if wait := c.Hooks.Timeout + c.GPIO.Warmup; wait >= pingTimeout {
		sd.a.log.Warn("hooks.timeout plus gpio.warmup is longer than the watchdog allows a loop; a hook that runs that long gets the speaker restarted: shorten hooks.timeout or raise WatchdogSec= with a drop-in",
			"hooks_timeout", c.Hooks.Timeout, "warmup", c.GPIO.Warmup, "ping_timeout", pingTimeout)
	}
}

// speakerStatus turns the session's hook events into the line systemd
// shows: "Waiting for a phone", "Playing: Song – Artist (al…e)". It
// never names a user in full.
type speakerStatus struct {
	mu    sync.Mutex
	set   func(string)
	state string // waiting, logging_in, connected, playing, paused
	user  string // shortened
	track string
}

// attach starts sending the status to set (now, and on every change).
func (s *speakerStatus) attach(set func(string)) {
	s.mu.Lock()
	s.set = set
	text := s.textLocked()
	s.mu.Unlock()
	set(text)
}

// loggingIn says that the speaker logs in with stored credentials.
func (s *speakerStatus) loggingIn(user string) {
	s.update(func() { s.state, s.user = "logging_in", redact.Username(user) })
}

// Emit takes a hook event (sessionHooks passes every one on). It runs on
// the goroutine of the event, the audio output's among them: it only
// stores, and the notifier sends.
func (s *speakerStatus) Emit(ev hooks.Event) {
	if s == nil {
		return
	}
	switch ev.Name {
	case hooks.SessionConnected:
		s.update(func() { s.state, s.user, s.track = "connected", redact.Username(ev.Vars["USER_NAME"]), "" })
	case hooks.SessionDisconnected:
		s.update(func() { s.state, s.user, s.track = "waiting", "", "" })
	case hooks.TrackChanged:
		t := ev.Vars["NAME"]
		if a := ev.Vars["ARTISTS"]; a != "" {
			t += " – " + strings.ReplaceAll(a, "\n", ", ")
		}
		s.update(func() { s.track = t })
	case hooks.Playing:
		s.update(func() { s.state = "playing" })
	case hooks.Paused:
		s.update(func() { s.state = "paused" })
	case hooks.Stopped:
		s.update(func() {
			if s.state == "playing" || s.state == "paused" {
				s.state = "connected"
			}
		})
	}
}

func (s *speakerStatus) update(f func()) {
	s.mu.Lock()
	f()
	text, set := s.textLocked(), s.set
	s.mu.Unlock()
	set(text)
}

func (s *speakerStatus) textLocked() string {
	switch s.state {
	case "logging_in":
		return "Logging in to Spotify as " + s.user
	case "connected":
		return "Connected: " + s.user
	case "playing", "paused":
		word := "Playing"
		if s.state == "paused" {
			word = "Paused"
		}
		if s.track == "" {
			return word + " (" + s.user + ")"
		}
		return word + ": " + s.track + " (" + s.user + ")"
	}
	return "Waiting for a phone"
}

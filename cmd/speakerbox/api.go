package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/speakerbox/speakerbox/audio/player"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/localapi"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/metrics"
	"github.com/speakerbox/speakerbox/gpio/amp"
	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/zeroconfsrv"
)

// localAPI is the local status and control API of a running speaker
// (api.address). A nil *localAPI is the API switched off: every method
// does nothing.
type localAPI struct {
	srv *localapi.Server
	ln  net.Listener
	a   *app

	// The parts made after the server; set by wire before run.
	mu       sync.Mutex
	relay    *relayOverride
	control  localapi.Controller
	status   localapi.StatusSource
	zeroconf *zeroconfsrv.Server
	metrics  *metrics.Metrics    // GET /metrics and the status counters
	audio    func() player.Stats // the status's buffer
	live     *liveSettings       // the page's settings put into effect (apply.go)
}

// openLocalAPI checks api.* and binds the listener, so that a refused
// exposure or a port in use stops the speaker before anything starts.
// The server's parts arrive later through wire.
func openLocalAPI(a *app, deviceID string, store *creds.Store) (*localAPI, error) {
	c := a.cfg.API
	// Taken first: a socket a restart handed over is never left to the
	// hooks' processes, even when the API is off now.
	inherited := inheritedAPIListener(c.Address) // restart.go
	if !c.Enabled() {
		if inherited != nil {
			_ = inherited.Close()
		}
		return nil, nil
	}
	source := func(key string) string { return "" }
	if a.loaded != nil {
		source = a.loaded.Source
	}
	if err := config.CheckAPIExposure(c, source); err != nil {
		if inherited != nil {
			_ = inherited.Close()
		}
		return nil, err
	}
	var err error
	ln := inherited
	if ln == nil {
		if ln, err = net.Listen("tcp", c.Address); err != nil {
			return nil, fmt.Errorf("local API: listen on api.address %q: %w", c.Address, err)
		}
	}
	l := &localAPI{ln: ln, a: a, live: newLiveSettings(a.cfg, a.log.With("component", "settings"))}
	cfg := localapi.Config{
		Device:        localapi.DeviceInfo{Name: a.cfg.Name, ID: deviceID, Version: version},
		Token:         c.Token,
		Controller:    localapi.ControllerFunc(l.controlDevice),
		ZeroConf:      l,
		Source:        l,
		Relay:         l,
		Providers:     localapi.Providers{Output: l.output(outputStatus(a.cfg)), Buffer: l.buffer, Counters: l.counters},
		Metrics:       http.HandlerFunc(l.serveMetrics),
		InitialState:  localapi.StateWaiting,
		InitialVolume: uint16(percentToVolume(a.cfg.Audio.InitialVolume)),
		Log:           a.log.With("component", "api"),
	}
	if cfg.Owner, err = a.ownerParts(store, l.ResetUsers, l.report); err != nil { // the web page (web.go)
		_ = ln.Close()
		return nil, err
	}
	cfg.Owner.Apply, cfg.Owner.NextStart = l.live.funcs(), nextStartKeys()
	if a.restart != nil {
		cfg.Owner.Restart = a.restart.request
		if tl, ok := ln.(*net.TCPListener); ok {
			a.restart.setHandOver(tl.File)
		}
	}
	srv, err := localapi.New(cfg)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	l.srv = srv
	return l, nil
}

// emit is the tap on the speaker's hook events (the hook runner's).
func (l *localAPI) emit(ev hooks.Event) {
	if l != nil {
		l.srv.Emit(ev)
	}
}

// wire hands the API the parts made after it: the relay override (nil:
// no relay), the Connect device's command input and status (either may be
// nil: commands then answer 503 and the status is folded from hook events
// alone) and the ZeroConf server. Called before run.
func (l *localAPI) wire(relay *relayOverride, control localapi.Controller, status localapi.StatusSource, zc *zeroconfsrv.Server) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.relay, l.control, l.status, l.zeroconf = relay, control, status, zc
}

// SetMode implements localapi.Relay with the override once wired.
func (l *localAPI) SetMode(ctx context.Context, m localapi.RelayMode) error {
	l.mu.Lock()
	r := l.relay
	l.mu.Unlock()
	if r == nil {
		return localapi.ErrNoRelay
	}
	if err := r.SetMode(ctx, m); err != nil {
		return err
	}
	// A switch of the API's own is no hook event: clients see it as a
	// status event.
	l.srv.Refresh()
	return nil
}

// wireLive hands the settings the parts they change while running
// (apply.go); the API's own status heading is added here.
func (l *localAPI) wireLive(p liveParts) {
	if l == nil {
		return
	}
	p.heading = l.srv
	l.live.wire(p)
}

// wireMetrics hands the API the speaker's metrics and the audio player's
// counters, made after the server like the parts wire takes.
func (l *localAPI) wireMetrics(m *metrics.Metrics, audio func() player.Stats) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.metrics, l.audio = m, audio
}

func (l *localAPI) serveMetrics(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	m := l.metrics
	l.mu.Unlock()
	if m == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":"the speaker is still starting"}` + "\n"))
		return
	}
	m.Handler().ServeHTTP(w, r)
}

// output is the status's output: the configured device, with the format
// the device took while a sink is open (the configured one otherwise).
func (l *localAPI) output(configured func() localapi.OutputStatus) func() localapi.OutputStatus {
	return func() localapi.OutputStatus {
		o := configured()
		l.mu.Lock()
		audio := l.audio
		l.mu.Unlock()
		if audio != nil {
			if f := audio().Format; f.Rate > 0 {
				o.Format, o.Rate, o.Channels = f.Sample.String(), f.Rate, f.Channels
			}
		}
		return o
	}
}

// buffer is the status's buffer: the ring's fill and the under-runs.
func (l *localAPI) buffer() localapi.BufferStatus {
	l.mu.Lock()
	audio := l.audio
	l.mu.Unlock()
	if audio == nil {
		return localapi.BufferStatus{}
	}
	st := audio()
	return localapi.BufferStatus{Fill: st.BufferFill, Underruns: st.Underruns}
}

// counters are the status's counters: the metrics' own values, by name.
func (l *localAPI) counters() map[string]float64 {
	l.mu.Lock()
	m := l.metrics
	l.mu.Unlock()
	if m == nil {
		return nil
	}
	return m.Counters()
}

// RelayState implements localapi.Relay.
func (l *localAPI) RelayState() (bool, localapi.RelayMode) {
	l.mu.Lock()
	r := l.relay
	l.mu.Unlock()
	if r == nil {
		return false, localapi.RelayNone
	}
	return r.RelayState()
}

// ReceiverStatus implements localapi.StatusSource with the device's view
// once wired; before, the zero value leaves the status to the hooks.
func (l *localAPI) ReceiverStatus() localapi.ReceiverStatus {
	l.mu.Lock()
	src := l.status
	l.mu.Unlock()
	if src == nil {
		return localapi.ReceiverStatus{}
	}
	return src.ReceiverStatus()
}

// run serves until ctx ends. changes, if not nil, is the device's
// StatusChanged (a channel closed at its next status change): each change
// becomes a status event for the event clients.
func (l *localAPI) run(ctx context.Context, changes func() <-chan struct{}) error {
	if l == nil {
		return nil
	}
	l.a.log.Info("local API listening", "address", l.ln.Addr().String(), "token", l.a.cfg.API.Token != "")
	watchCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if changes != nil {
		wg.Go(func() {
			ch := changes()
			for {
				select {
				case <-ch:
					// The next channel first: a change from here on closes
					// it, and the refresh renders no older a status.
					ch = changes()
					l.srv.Refresh()
				case <-watchCtx.Done():
					return
				}
			}
		})
	}
	err := l.srv.Serve(ctx, l.ln)
	stop()
	wg.Wait()
	return err
}

// close releases the listener of an API that never ran (a start that
// failed after openLocalAPI); after run it does nothing.
func (l *localAPI) close() {
	if l != nil {
		_ = l.ln.Close()
	}
}

func (l *localAPI) controlDevice(ctx context.Context, c localapi.Control) error {
	l.mu.Lock()
	ctl := l.control
	l.mu.Unlock()
	if ctl == nil {
		return fmt.Errorf("player control: %w", localapi.ErrUnavailable)
	}
	return ctl.Control(ctx, c)
}

// ResetUsers implements localapi.ZeroConf: the ZeroConf API's own
// resetUsers, exactly as a phone sends it, so that zeroconf.reset_forgets
// and the log line are the same whichever asked.
func (l *localAPI) ResetUsers(ctx context.Context) error {
	l.mu.Lock()
	zc := l.zeroconf
	l.mu.Unlock()
	if zc == nil {
		return fmt.Errorf("the ZeroConf API: %w", localapi.ErrUnavailable)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader("action=resetUsers"))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "local API"
	var w answer
	zc.Handler().ServeHTTP(&w, req)
	if w.code != http.StatusOK {
		return fmt.Errorf("zeroconf resetUsers answered %d: %s", w.code, bytes.TrimSpace(w.body.Bytes()))
	}
	return nil
}

// answer is the ResponseWriter of an in-process request.
type answer struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *answer) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *answer) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *answer) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// outputStatus is /status's output: the device and format as configured
// (the sink picks the format when audio.format is auto) at Spotify's one
// rate.
func outputStatus(c *config.Config) func() localapi.OutputStatus {
	o := localapi.OutputStatus{Format: c.Audio.Format, Rate: 44100, Channels: 2}
	switch c.Audio.Output {
	case "alsa":
		o.Device = c.Audio.Device
	case "pipe", "wav":
		o.Device = c.Audio.Output + ":" + c.Audio.Path
	default:
		o.Device = c.Audio.Output
	}
	return func() localapi.OutputStatus { return o }
}

// relayOverride sits between the amplifier relay's state machine and the
// switches it drives, so that the API can hold the amplifier on or off:
// in auto it passes every switch through; held, it remembers what playback
// asked for and drives that again when put back to auto. The mute line is
// not overridden.
type relayOverride struct {
	power amp.Switch

	io sync.Mutex // serialises switching

	mu   sync.Mutex // guards the fields below; never held while switching
	mode localapi.RelayMode
	want bool // what playback last asked for
	on   bool // what was last driven
}

func newRelayOverride(power amp.Switch) *relayOverride {
	return &relayOverride{power: power, mode: localapi.RelayAuto}
}

// Set implements amp.Switch for the relay state machine.
func (r *relayOverride) Set(ctx context.Context, on bool) error {
	r.io.Lock()
	defer r.io.Unlock()
	r.mu.Lock()
	r.want = on
	held := r.mode != localapi.RelayAuto
	r.mu.Unlock()
	if held {
		return nil
	}
	return r.drive(ctx, on)
}

// SetMode implements localapi.Relay. A failed switch keeps the old mode.
func (r *relayOverride) SetMode(ctx context.Context, m localapi.RelayMode) error {
	r.io.Lock()
	defer r.io.Unlock()
	r.mu.Lock()
	prev, target := r.mode, r.want
	r.mode = m
	r.mu.Unlock()
	switch m {
	case localapi.RelayOn:
		target = true
	case localapi.RelayOff:
		target = false
	}
	if err := r.drive(ctx, target); err != nil {
		r.mu.Lock()
		r.mode = prev
		r.mu.Unlock()
		return fmt.Errorf("switch the amplifier %s: %w", m, err)
	}
	return nil
}

// RelayState implements localapi.Relay; it never waits for a switch.
func (r *relayOverride) RelayState() (bool, localapi.RelayMode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.on, r.mode
}

// release gives the relay back to playback without switching anything, so
// that the shutdown's "off" (orderly or forced) reaches the amplifier even
// when the API held it on. It never blocks.
func (r *relayOverride) release() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.mode = localapi.RelayAuto
	r.mu.Unlock()
}

func (r *relayOverride) drive(ctx context.Context, on bool) error {
	if err := r.power.Set(ctx, on); err != nil {
		return err
	}
	r.mu.Lock()
	r.on = on
	r.mu.Unlock()
	return nil
}

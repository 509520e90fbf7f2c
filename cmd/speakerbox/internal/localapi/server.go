// Package localapi is Speakerbox's local status and control API: GET
// /status, live events over Server-Sent Events, player, relay and ZeroConf
// commands, the OpenAPI description and a mount point for /metrics.
//
// The server knows the speaker only through the small interfaces in
// seams.go, so it is tested alone with fakes; cmd/speakerbox wires the
// Connect device, the amplifier relay and the ZeroConf API to it. Hook
// events reach it through Emit, which never blocks: the status is folded
// from them there, and a goroutine of the server's own (Run) hands them to
// the event clients, dropping any client that cannot keep up.
package localapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/speakerbox/speakerbox/receiver/hooks"
)

// Defaults of Config.
const (
	DefaultClientQueue = 64
	DefaultMaxClients  = 32
	DefaultHeartbeat   = 15 * time.Second
	// maxPending bounds the events Emit keeps for Run. Past it (Run is
	// stalled) the event clients are dropped rather than shown a gap; the
	// status itself is folded in Emit and stays right.
	maxPending = 1024
	// controlTimeout bounds a command handed to the device, the relay or
	// the ZeroConf API.
	controlTimeout = 10 * time.Second
)

// Config sets up a Server. Only Device is required; a nil part makes its
// routes answer 503 (or 409 for a missing relay, which is the speaker's
// configuration, not a fault).
type Config struct {
	Device DeviceInfo
	// Token, when not empty, is required of every request as
	// "Authorization: Bearer <token>".
	Token      string
	Controller Controller
	Source     StatusSource // nil: the status is folded from hook events only
	Relay      Relay
	ZeroConf   ZeroConf
	Providers  Providers
	Metrics    http.Handler // served at GET /metrics
	Owner      Owner        // the owner's page and its routes (owner.go)
	// InitialState and InitialVolume are the status before any event
	// (default offline, 0).
	InitialState  string
	InitialVolume uint16
	// ClientQueue is how many events an SSE client may lag behind before it
	// is dropped; MaxClients bounds the clients at once.
	ClientQueue int
	MaxClients  int
	// Heartbeat ticks an SSE comment to every client so that proxies keep
	// the stream open; nil means every DefaultHeartbeat.
	Heartbeat <-chan time.Time
	Now       func() time.Time
	Log       *slog.Logger
}

// Server is the local API. Make it with New, serve Handler (or call
// Serve), feed it hook events with Emit and run Run.
type Server struct {
	cfg       Config
	tokenHash [sha256.Size]byte
	handler   http.Handler
	wake      chan struct{}
	owner     *ownerState

	mu       sync.Mutex // guards the fields below
	model    model      // after every event Emit has seen
	pending  []pendingEvent
	overflow bool

	hubMu     sync.Mutex // guards the fields below
	clients   map[*client]struct{}
	published model // as of the last event handed to the clients
	stopped   bool

	dropped atomic.Uint64
	name    atomic.Pointer[string] // Device.Name until SetName
}

type pendingEvent struct {
	ev    hooks.Event
	model model
}

// client is one SSE stream. The hub sends frames on ch without blocking
// and closes gone when it drops the client.
type client struct {
	ch   chan []byte
	gone chan struct{}
}

// New returns a server; nothing runs until Run or Serve.
func New(cfg Config) (*Server, error) {
	if cfg.ClientQueue <= 0 {
		cfg.ClientQueue = DefaultClientQueue
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.InitialState == "" {
		cfg.InitialState = StateOffline
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Device.Started.IsZero() {
		cfg.Device.Started = cfg.Now()
	}
	cfg.Device.Started = cfg.Device.Started.UTC().Truncate(time.Millisecond)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:     cfg,
		wake:    make(chan struct{}, 1),
		clients: map[*client]struct{}{},
		owner:   newOwnerState(cfg.Owner.Settings),
	}
	s.name.Store(&cfg.Device.Name)
	if cfg.Token != "" {
		s.tokenHash = sha256.Sum256([]byte(cfg.Token))
	}
	s.model = model{state: cfg.InitialState, volume: cfg.InitialVolume}
	s.published = s.model
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.HandleFunc(rt.method+" "+rt.path, rt.handler)
	}
	mux.HandleFunc("/", s.notFound)
	s.handler = s.withPage(s.guard(mux))
	return s, nil
}

// Handler is the API with its checks (token, origin, content type).
func (s *Server) Handler() http.Handler { return s.handler }

// Emit takes one hook event. It never blocks and never calls out: it folds
// the event into the status and queues it for Run.
func (s *Server) Emit(ev hooks.Event) {
	now := s.cfg.Now()
	s.mu.Lock()
	s.model.apply(ev, now)
	if len(s.pending) < maxPending {
		s.pending = append(s.pending, pendingEvent{ev: ev, model: s.model})
	} else {
		s.overflow = true
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // Run is already due to look
	}
}

// Refresh tells the server that the device's own status (Source) changed
// without a hook event (logging in, back online): event clients get an
// "event: status" with it. Like Emit it never blocks; refreshes queued
// back to back count once.
func (s *Server) Refresh() {
	s.mu.Lock()
	if n := len(s.pending); n > 0 && s.pending[n-1].ev.Name == "" {
		s.mu.Unlock()
		return
	}
	if len(s.pending) < maxPending {
		s.pending = append(s.pending, pendingEvent{model: s.model})
	} else {
		s.overflow = true
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// SetName changes the device name the status reports (the page's
// heading), and tells event clients.
func (s *Server) SetName(name string) {
	s.name.Store(&name)
	s.Refresh()
}

// EventStats are for metrics: SSE clients now, and how many were dropped
// for falling behind.
type EventStats struct {
	Clients int
	Dropped uint64
}

// EventStats reports the SSE clients.
func (s *Server) EventStats() EventStats {
	s.hubMu.Lock()
	n := len(s.clients)
	s.hubMu.Unlock()
	return EventStats{Clients: n, Dropped: s.dropped.Load()}
}

// Run hands events to the SSE clients until ctx ends, then ends every
// stream. It is the owner of the heartbeat ticker.
func (s *Server) Run(ctx context.Context) error {
	ticks := s.cfg.Heartbeat
	if ticks == nil {
		t := time.NewTicker(DefaultHeartbeat)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-ctx.Done():
			s.stop()
			return nil
		case <-s.wake:
			s.flush()
		case <-ticks:
			s.hubMu.Lock()
			s.sendLocked([]byte(": keep-alive\n\n"))
			s.hubMu.Unlock()
		}
	}
}

func (s *Server) flush() {
	s.mu.Lock()
	batch, over, latest := s.pending, s.overflow, s.model
	s.pending, s.overflow = nil, false
	s.mu.Unlock()
	if over {
		// Events were lost on the way: a client would show a gap. Drop
		// them all; each reconnects and starts from the current status.
		s.hubMu.Lock()
		s.published = latest
		for c := range s.clients {
			s.dropLocked(c)
		}
		s.hubMu.Unlock()
		s.cfg.Log.Warn("local API: event clients dropped, the event queue overflowed", "limit", maxPending)
		return
	}
	for _, p := range batch {
		frame := s.eventFrame(p)
		s.hubMu.Lock()
		s.published = p.model
		if frame != nil {
			s.sendLocked(frame)
		}
		s.hubMu.Unlock()
	}
}

// sendLocked offers frame to every client; one whose queue is full is
// dropped rather than waited for.
func (s *Server) sendLocked(frame []byte) {
	for c := range s.clients {
		select {
		case c.ch <- frame:
		default:
			s.dropLocked(c)
			s.cfg.Log.Info("local API: dropped an event client that fell behind", "queue", s.cfg.ClientQueue)
		}
	}
}

func (s *Server) dropLocked(c *client) {
	delete(s.clients, c)
	close(c.gone)
	s.dropped.Add(1)
}

func (s *Server) stop() {
	s.hubMu.Lock()
	defer s.hubMu.Unlock()
	s.stopped = true
	for c := range s.clients {
		delete(s.clients, c)
		close(c.gone)
	}
}

var (
	errStopped     = errors.New("the server is shutting down")
	errTooManySubs = errors.New("too many event clients")
)

// subscribe adds a client whose first frame is the status as of the last
// event handed out; every later event follows in order.
func (s *Server) subscribe() (*client, error) {
	s.hubMu.Lock()
	defer s.hubMu.Unlock()
	if s.stopped {
		return nil, errStopped
	}
	if len(s.clients) >= s.cfg.MaxClients {
		return nil, errTooManySubs
	}
	first, err := sseFrame("status", s.render(s.published))
	if err != nil {
		return nil, err
	}
	c := &client{ch: make(chan []byte, s.cfg.ClientQueue+1), gone: make(chan struct{})}
	c.ch <- append([]byte("retry: 3000\n"), first...)
	s.clients[c] = struct{}{}
	return c, nil
}

func (s *Server) unsubscribe(c *client) {
	s.hubMu.Lock()
	defer s.hubMu.Unlock()
	if _, ok := s.clients[c]; ok {
		delete(s.clients, c)
		close(c.gone)
	}
}

// current is the status after every event seen so far.
func (s *Server) current() Status {
	s.mu.Lock()
	m := s.model
	s.mu.Unlock()
	return s.render(m)
}

// render completes a folded model with the device's view and the
// providers.
func (s *Server) render(m model) Status {
	if s.cfg.Source != nil {
		m = m.overlay(s.cfg.Source.ReceiverStatus())
	}
	return s.complete(m)
}

// renderAfter is the status that goes with a hook event: the event's own
// fold, which the device's view may lag (it publishes after the step that
// emitted the event), with the device's session state only where the hooks
// have told of no session (logging in, offline).
func (s *Server) renderAfter(m model) Status {
	if s.cfg.Source != nil {
		m = m.sessionFrom(s.cfg.Source.ReceiverStatus())
	}
	return s.complete(m)
}

func (s *Server) complete(m model) Status {
	st := Status{Device: s.cfg.Device, Relay: RelayStatus{Mode: RelayNone}, Counters: map[string]float64{}}
	st.Device.Name = *s.name.Load()
	st.Session, st.Track, st.Volume = m.status()
	if s.cfg.Relay != nil {
		st.Relay.On, st.Relay.Mode = s.cfg.Relay.RelayState()
	}
	p := s.cfg.Providers
	if p.Output != nil {
		st.Output = p.Output()
	}
	if p.Buffer != nil {
		st.Buffer = p.Buffer()
	}
	if p.Counters != nil {
		if c := p.Counters(); c != nil {
			st.Counters = c
		}
	}
	return st
}

// Serve serves the API on ln until ctx ends, with Run beside it. Event
// streams end first, so the shutdown does not wait for them.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	runCtx, stopRun := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Run(runCtx) })
	served := make(chan error, 1)
	wg.Go(func() { served <- srv.Serve(ln) })

	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("local API on %s: %w", ln.Addr(), err)
	}
	stopRun()
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutCtx); serr != nil {
		_ = srv.Close()
	}
	wg.Wait()
	return err
}

// guard applies the checks every route shares: the token, then the
// cross-site rules for requests that change something.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token != "" && !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="speakerbox"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		if s.cfg.Token == "" && !addressHost(r.Host) {
			writeError(w, http.StatusForbidden, "Host "+quoteShort(r.Host)+" refused: without api.token the API answers only to an IP address or localhost")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
			if reason := crossSite(r); reason != "" {
				writeError(w, http.StatusForbidden, reason)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// addressHost tells whether the Host header names the server by address
// (or localhost). Without a token this is what keeps a web page that
// re-points its own domain name at 127.0.0.1 (DNS rebinding) out: its
// requests carry its domain as Host, and look same-origin to the browser.
func addressHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}

// authorized compares hashes, so that neither the token's bytes nor its
// length show in the time taken.
func (s *Server) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(h[:], s.tokenHash[:]) == 1
}

// crossSite says why a state-changing request looks like it came from
// another site's page ("" if it does not): browsers send Origin with every
// cross-origin POST, PUT and DELETE, and Sec-Fetch-Site where they know it.
// Scripts (curl, Home Assistant) send neither.
func crossSite(r *http.Request) string {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return "cross-site request refused"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ""
	}
	scheme, host, ok := strings.Cut(origin, "://")
	if !ok || (scheme != "http" && scheme != "https") || !strings.EqualFold(host, r.Host) {
		return "cross-origin request refused: Origin " + quoteShort(origin) + " is not this speaker (" + quoteShort(r.Host) + ")"
	}
	return ""
}

// quoteShort quotes a client-supplied value for an error message, cut so
// a huge header does not come back whole.
func quoteShort(s string) string {
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return fmt.Sprintf("%q", s)
}

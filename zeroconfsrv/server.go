package zeroconfsrv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/speakerbox/speakerbox/zeroconfsrv/mdns"
)

// Defaults of the HTTP server and the network watcher.
const (
	DefaultPollInterval = 2 * time.Second
	maxConns            = 32
	readHeaderTimeout   = 5 * time.Second
	readTimeout         = 10 * time.Second
	writeTimeout        = 10 * time.Second
	idleTimeout         = 30 * time.Second
	shutdownTimeout     = time.Second
)

// Iface is a network interface as the watcher sees it.
type Iface struct {
	Name  string
	Index int
	Flags net.Flags
	Addrs []netip.Addr
}

// Advertise starts one mDNS advertisement (mdns.Register by default).
type Advertise func(mdns.Service) (mdns.Registration, error)

// Config configures the discovery server.
type Config struct {
	Handler    HandlerConfig
	Port       int      // 0: any free port, chosen once and kept
	Interfaces []string // empty: every up, multicast-capable, non-loopback interface
	// PollInterval is how often interface addresses are checked (cheap:
	// one netlink dump). Default DefaultPollInterval.
	PollInterval time.Duration
	// ListInterfaces and Advertise replace the system's in tests.
	ListInterfaces func() ([]Iface, error)
	Advertise      Advertise
	// Limits of the HTTP server; zero values take the defaults.
	Limits Limits
}

// Limits bound what one client can hold: a phone's exchange is two short
// requests, so anything slower or more numerous is a broken or hostile client.
type Limits struct {
	MaxConns          int           // connections open at once, over all addresses (default 32)
	ReadHeaderTimeout time.Duration // default 5s
	ReadTimeout       time.Duration // whole request (default 10s)
	WriteTimeout      time.Duration // default 10s
	IdleTimeout       time.Duration // keep-alive (default 30s)
}

func (l Limits) withDefaults() Limits {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if l.MaxConns <= 0 {
		l.MaxConns = maxConns
	}
	def(&l.ReadHeaderTimeout, readHeaderTimeout)
	def(&l.ReadTimeout, readTimeout)
	def(&l.WriteTimeout, writeTimeout)
	def(&l.IdleTimeout, idleTimeout)
	return l
}

// Server advertises the speaker and serves the ZeroConf API on exactly the
// addresses it advertises. It follows interface and address changes:
// an mDNS registration announces the addresses it was given and no others,
// and at boot the network is often not up yet.
type Server struct {
	cfg  Config
	h    *Handler
	log  *slog.Logger
	http *http.Server
	sem  chan struct{}

	renamed chan struct{}

	// Liveness (liveness.go).
	ready      chan struct{}
	pings      chan chan struct{}
	pipe       *pipeListener
	pingClient *http.Client

	mu        sync.Mutex
	name      string
	port      int
	listeners map[netip.AddrPort]net.Listener
	failing   map[netip.AddrPort]bool // bind failures already logged
	reg       mdns.Registration
	regKey    string
	serving   sync.WaitGroup
}

// New prepares a server; Run starts it.
func New(cfg Config, store CredentialStore, recv Receiver) (*Server, error) {
	h, err := NewHandler(cfg.Handler, store, recv)
	if err != nil {
		return nil, err
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.ListInterfaces == nil {
		cfg.ListInterfaces = SystemInterfaces
	}
	if cfg.Advertise == nil {
		cfg.Advertise = mdns.Register
	}
	cfg.Limits = cfg.Limits.withDefaults()
	s := &Server{
		cfg: cfg, h: h, log: cfg.Handler.Logger,
		sem:       make(chan struct{}, cfg.Limits.MaxConns),
		renamed:   make(chan struct{}, 1),
		ready:     make(chan struct{}),
		pings:     make(chan chan struct{}, 4),
		pipe:      newPipeListener(),
		name:      cfg.Handler.Info.Name,
		port:      cfg.Port,
		listeners: map[netip.AddrPort]net.Listener{},
		failing:   map[netip.AddrPort]bool{},
	}
	s.http = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.Limits.ReadHeaderTimeout,
		ReadTimeout:       cfg.Limits.ReadTimeout,
		WriteTimeout:      cfg.Limits.WriteTimeout,
		IdleTimeout:       cfg.Limits.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.pingClient = newPingClient(s.pipe)
	return s, nil
}

// Handler is the ZeroConf API handler (for SetActiveUser and tests).
func (s *Server) Handler() *Handler { return s.h }

// SetName renames the device: getInfo reports it at once and the mDNS
// advertisement is replaced at the next turn of Run's loop.
func (s *Server) SetName(name string) {
	s.mu.Lock()
	s.name = name
	s.mu.Unlock()
	s.h.SetName(name)
	select {
	case s.renamed <- struct{}{}:
	default:
	}
}

// Addrs returns the addresses the API listens on now.
func (s *Server) Addrs() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]netip.AddrPort, 0, len(s.listeners))
	for ap := range s.listeners {
		out = append(out, ap)
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return out
}

// Run advertises and serves until ctx ends, then sends mDNS goodbye records
// and closes every listener. A network that is not up yet, or a failed
// registration, is logged and retried; it never ends Run.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		_ = s.http.Serve(s.pipe) // the liveness pings' way in; ends at stop
	}()
	s.sync(false)
	close(s.ready)
	for {
		select {
		case <-ctx.Done():
			s.stop()
			return nil
		case <-t.C:
			s.sync(false)
		case <-s.renamed:
			s.sync(true)
		case r := <-s.pings:
			close(r)
			s.answerPings()
		}
	}
}

func (s *Server) stop() {
	s.mu.Lock()
	if s.reg != nil {
		s.reg.Shutdown()
		s.reg, s.regKey = nil, ""
	}
	s.mu.Unlock()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(sctx); err != nil {
		s.log.Warn("zeroconf HTTP server did not stop cleanly", "err", err)
		_ = s.http.Close()
	}
	s.mu.Lock()
	for ap, l := range s.listeners {
		_ = l.Close()
		delete(s.listeners, ap)
	}
	s.mu.Unlock()
	s.serving.Wait()
	s.log.Info("zeroconf stopped; goodbye sent")
}

// SystemInterfaces lists the host's interfaces and their addresses.
func SystemInterfaces() ([]Iface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	out := make([]Iface, 0, len(ifs))
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue // the interface went away meanwhile
		}
		i := Iface{Name: ifc.Name, Index: ifc.Index, Flags: ifc.Flags}
		for _, a := range addrs {
			if pn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(pn.IP); ok {
					i.Addrs = append(i.Addrs, ip.Unmap())
				}
			}
		}
		out = append(out, i)
	}
	return out, nil
}

// selectInterfaces picks the interfaces to advertise on and the addresses to
// listen on. Named interfaces are used if they are up, whatever their other
// flags (the owner asked for them); otherwise every up, multicast-capable,
// non-loopback interface. IPv6 link-local addresses get their zone.
func selectInterfaces(all []Iface, names []string) []Iface {
	var out []Iface
	for _, ifc := range all {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		if len(names) > 0 {
			if !slices.Contains(names, ifc.Name) {
				continue
			}
		} else if ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagMulticast == 0 {
			continue
		}
		sel := Iface{Name: ifc.Name, Index: ifc.Index, Flags: ifc.Flags}
		for _, a := range ifc.Addrs {
			if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || (a.IsLoopback() && len(names) == 0) {
				continue
			}
			if a.Is6() && a.IsLinkLocalUnicast() {
				a = a.WithZone(ifc.Name)
			}
			sel.Addrs = append(sel.Addrs, a)
		}
		if len(sel.Addrs) > 0 {
			out = append(out, sel)
		}
	}
	return out
}

// sync brings listeners and the advertisement in line with the interfaces.
func (s *Server) sync(force bool) {
	all, err := s.cfg.ListInterfaces()
	if err != nil {
		s.log.Warn("zeroconf: cannot list interfaces; will retry", "err", err)
		return
	}
	chosen := selectInterfaces(all, s.cfg.Interfaces)

	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[netip.Addr]bool{}
	for _, ifc := range chosen {
		for _, a := range ifc.Addrs {
			want[a] = true
		}
	}
	// Close listeners whose address is gone.
	for ap, l := range s.listeners {
		if !want[ap.Addr()] {
			_ = l.Close()
			delete(s.listeners, ap)
			s.log.Info("zeroconf: address gone; stopped listening", "addr", ap.String())
		}
	}
	// Open listeners on new addresses, all on one port.
	addrs := make([]netip.Addr, 0, len(want))
	for a := range want {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
	for _, a := range addrs {
		if s.port != 0 {
			if _, ok := s.listeners[netip.AddrPortFrom(a, uint16(s.port))]; ok {
				continue
			}
		}
		s.listen(a)
	}

	// Advertise what we actually listen on.
	var ips []netip.Addr
	var idx []int
	for _, ifc := range chosen {
		bound := false
		for _, a := range ifc.Addrs {
			if _, ok := s.listeners[netip.AddrPortFrom(a, uint16(s.port))]; ok && s.port != 0 {
				ips = append(ips, a)
				bound = true
			}
		}
		if bound {
			idx = append(idx, ifc.Index)
		}
	}
	key := fmt.Sprint(s.name, "|", s.port, "|", ips, "|", idx)
	if key == s.regKey && !force {
		return
	}
	if s.reg != nil {
		s.reg.Shutdown()
		s.reg, s.regKey = nil, ""
	}
	if len(ips) == 0 {
		s.log.Info("zeroconf: no usable network address yet; waiting for one", "interfaces", strings.Join(s.cfg.Interfaces, ","))
		s.regKey = key
		return
	}
	reg, err := s.cfg.Advertise(mdns.Service{Instance: s.name, Host: s.hostName(), Port: s.port, IPs: ips, Ifaces: idx, Logger: s.log})
	if err != nil {
		// Leave regKey unset: the next tick tries again.
		s.log.Warn("zeroconf: mDNS registration failed; will retry", "err", err)
		return
	}
	s.reg, s.regKey = reg, key
	s.log.Info("zeroconf: advertising", "name", s.name, "port", s.port, "addrs", fmt.Sprint(ips))
}

// hostName is the SRV target. It is our own name, not the machine's, so it
// never collides with the host record avahi may publish for the machine.
func (s *Server) hostName() string {
	id := s.cfg.Handler.Info.DeviceID
	if len(id) > 8 {
		id = id[:8]
	}
	return "speakerbox-" + id
}

// listen binds a (with s.mu held). The first bind picks the port when it is
// 0; later binds reuse it. A failure (say an IPv6 address still in duplicate
// address detection) is logged once and retried at the next tick.
func (s *Server) listen(a netip.Addr) {
	ap := netip.AddrPortFrom(a, uint16(s.port))
	l, err := net.Listen("tcp", net.JoinHostPort(a.String(), strconv.Itoa(s.port)))
	if err != nil {
		if !s.failing[ap] {
			s.failing[ap] = true
			s.log.Warn("zeroconf: cannot listen; will retry", "addr", ap.String(), "err", err)
		}
		return
	}
	delete(s.failing, ap)
	if s.port == 0 {
		s.port = l.Addr().(*net.TCPAddr).Port
		ap = netip.AddrPortFrom(a, uint16(s.port))
	}
	ll := &limitListener{Listener: l, sem: s.sem, done: make(chan struct{})}
	s.listeners[ap] = ll
	s.log.Info("zeroconf HTTP API listening", "addr", ap.String())
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		err := s.http.Serve(ll)
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Warn("zeroconf HTTP listener stopped", "addr", ap.String(), "err", err)
		}
	}()
}

// limitListener bounds the connections open at once across all listeners
// sharing sem: a flood of connections waits in the kernel's backlog instead
// of costing goroutines and memory.
type limitListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
	once sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

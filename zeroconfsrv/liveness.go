package zeroconfsrv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
)

// Liveness: Ping proves that the two parts of the server that could wedge
// still work, for a systemd watchdog. The Run loop (interface polling and
// mDNS registration) must answer, and a getInfo must go through the HTTP
// server and the handler (their locks). The request travels over an
// in-memory connection served by the same http.Server as the network
// listeners, not over one of them: the API listens only on the advertised
// addresses, and a LAN client holding every one of the MaxConns slots
// there (which the limit is for) must not get the speaker restarted.

// pingURL is the address of the liveness request; the host is never
// resolved (the transport dials the in-memory listener).
const pingURL = "http://zeroconf-ping.invalid/?action=getInfo"

// Ready is closed once Run has brought up discovery for the first time:
// listeners on every usable address there is and the advertisement (or
// the log line saying there is no address yet, which is not an error: it
// starts advertising as soon as one comes).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Ping returns nil once the Run loop has answered and a getInfo has been
// served through the HTTP server; otherwise the error says which did not,
// wrapping ctx's error when ctx ended first. Before Run starts, and after
// it ends, only ctx ends it.
func (s *Server) Ping(ctx context.Context) error {
	r := make(chan struct{})
	select {
	case s.pings <- r:
	case <-ctx.Done():
		return fmt.Errorf("zeroconf: the discovery loop did not take the ping: %w", ctx.Err())
	}
	select {
	case <-r:
	case <-ctx.Done():
		return fmt.Errorf("zeroconf: the discovery loop did not answer: %w", ctx.Err())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pingURL, nil)
	if err != nil {
		return fmt.Errorf("zeroconf: ping request: %w", err)
	}
	resp, err := s.pingClient.Do(req)
	if err != nil {
		return fmt.Errorf("zeroconf: getInfo through the HTTP server: %w", err)
	}
	defer resp.Body.Close()
	var info struct {
		Status   int    `json:"status"`
		DeviceID string `json:"deviceID"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxBodyBytes)).Decode(&info); err != nil {
		return fmt.Errorf("zeroconf: getInfo answer (HTTP %d): %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || info.Status != StatusOK.Code || info.DeviceID != s.cfg.Handler.Info.DeviceID {
		return fmt.Errorf("zeroconf: getInfo answered HTTP %d, status %d", resp.StatusCode, info.Status)
	}
	return nil
}

// answerPings answers every waiting ping (on Run's goroutine).
func (s *Server) answerPings() {
	for {
		select {
		case r := <-s.pings:
			close(r)
		default:
			return
		}
	}
}

// pipeListener hands the HTTP server the server ends of in-memory
// connections that pipeDial makes.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// dial is the ping client's DialContext: one in-memory connection, taken
// by the HTTP server's Accept.
func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-ctx.Done():
	case <-l.done:
	}
	client.Close()
	server.Close()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, errors.New("zeroconf: the HTTP server is not serving")
}

func newPingClient(l *pipeListener) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:       l.dial,
		DisableKeepAlives: true, // a connection per ping: nothing idles between them
		Proxy:             nil,
	}}
}

// SelectInterfaces is the choice Run makes: the interfaces it advertises
// on and their addresses, for names (zeroconf.interfaces; empty: every
// up, multicast-capable, non-loopback interface). The diagnostic report
// uses it to say which addresses phones should reach.
func SelectInterfaces(all []Iface, names []string) []Iface { return selectInterfaces(all, names) }

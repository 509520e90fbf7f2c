// Package spotifytest is a wire-level fake of Spotify's HTTPS services for
// tests: one TLS listener with a generated test CA, requests routed by host
// name, every request recorded, and per-endpoint fault injection (knobs).
//
// Code under test reaches it through [Fake.Client], whose Transport sends
// every host:port to the fake's listener and trusts only the fake's CA. So
// third-party code with hard-coded URLs (go-librespot's apresolve,
// https://apresolve.spotify.com/) works unmodified.
//
// New mounts the services this file's siblings implement: apresolve
// (apresolve.spotify.com), client token (clienttoken.spotify.com) and login5
// (login5.spotify.com). Other servers (spclient.test, dealer.test, CDN hosts)
// are mounted with [Fake.Handle].
//
// The fake encodes our reading of the protocol (see
// shared/notes/connect-protocol.md); it cannot tell us what the real service
// does where that reading is wrong.
package spotifytest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request is one request as the fake received it. Host has its port
// stripped; Body is the complete request body (nil when empty).
type Request struct {
	Time     time.Time
	Host     string
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// Fake is one running fake of Spotify's HTTPS services. All methods are
// safe for concurrent use.
type Fake struct {
	srv       *httptest.Server
	transport *http.Transport
	closed    chan struct{}

	apresolve   *ApresolveServer
	clientToken *ClientTokenServer
	login5      *Login5Server

	mu       sync.Mutex
	hosts    map[string]http.Handler
	requests []Request
	knobs    []*Knob
}

// New starts a fake on a loopback port with the default services mounted.
// tb.Cleanup closes it.
func New(tb testing.TB) *Fake {
	tb.Helper()
	certs, err := newFakeTLS(time.Now())
	if err != nil {
		tb.Fatalf("spotifytest: %v", err)
	}
	f := &Fake{
		closed: make(chan struct{}),
		hosts:  map[string]http.Handler{},
	}
	// The recorder is outermost so a request that a knob answers, delays or
	// drops is still recorded; knobs come before routing so they apply to
	// every host, mounted now or later.
	f.srv = httptest.NewUnstartedServer(f.fakeRecord(f.fakeKnobs(http.HandlerFunc(f.fakeRoute))))
	f.srv.EnableHTTP2 = true
	// Offer h2 like Spotify does, and HTTP/1.1 for the dealer's websocket
	// upgrade (Go's Transport dials upgrade requests without h2 by itself).
	f.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{certs.leaf},
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}
	// Handshakes aborted by clients that give up are expected noise here.
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()

	addr := f.srv.Listener.Addr().String()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: certs.pool, MinVersion: tls.VersionTLS12}
	f.transport = tr

	f.apresolve = newApresolveServer()
	f.clientToken = newClientTokenServer()
	f.login5 = newLogin5Server(f.clientToken)
	f.Handle(ApresolveHost, f.apresolve)
	f.Handle(ClientTokenHost, f.clientToken)
	f.Handle(Login5Host, f.login5)

	tb.Cleanup(f.close)
	return f
}

func (f *Fake) close() {
	close(f.closed)
	f.transport.CloseIdleConnections()
	f.srv.CloseClientConnections()
	f.srv.Close()
}

// Client returns a new client whose Transport dials the fake for every
// host:port, trusts only the fake's CA and uses no proxy. Clients share one
// Transport (and so its connection pool); changing a returned client's
// fields does not affect the others.
func (f *Fake) Client() *http.Client {
	return &http.Client{Transport: f.transport}
}

// Addr is the listener's address (host:port on loopback).
func (f *Fake) Addr() string { return f.srv.Listener.Addr().String() }

// Apresolve is the apresolve.spotify.com server New mounted.
func (f *Fake) Apresolve() *ApresolveServer { return f.apresolve }

// ClientToken is the clienttoken.spotify.com server New mounted.
func (f *Fake) ClientToken() *ClientTokenServer { return f.clientToken }

// Login5 is the login5.spotify.com server New mounted.
func (f *Fake) Login5() *Login5Server { return f.login5 }

// Handle mounts h for requests whose Host (port stripped, case folded) is
// host, replacing any earlier handler for it.
func (f *Fake) Handle(host string, h http.Handler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts[strings.ToLower(host)] = h
}

// Requests returns a copy of every request received so far, in arrival
// order.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// Knob returns the fault injector for requests to host (port stripped; ""
// means any host) whose path starts with pathPrefix. Asking again for the
// same host and prefix returns the same knob.
func (f *Fake) Knob(host, pathPrefix string) *Knob {
	host = strings.ToLower(host)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.knobs {
		if k.host == host && k.prefix == pathPrefix {
			return k
		}
	}
	k := &Knob{host: host, prefix: pathPrefix, done: f.closed}
	f.knobs = append(f.knobs, k)
	return k
}

// fakeHostOf strips the port from a Host header value, so "spclient.test:443"
// and "spclient.test" route alike.
func fakeHostOf(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		hostport = h
	}
	return strings.ToLower(hostport)
}

// fakeMaxBody bounds what the recorder buffers; no fake endpoint takes more.
const fakeMaxBody = 16 << 20

func (f *Fake) fakeRecord(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil {
			b, err := io.ReadAll(io.LimitReader(r.Body, fakeMaxBody+1))
			if err != nil {
				http.Error(w, fmt.Sprintf("spotifytest: read request body: %v", err), http.StatusBadRequest)
				return
			}
			if len(b) > fakeMaxBody {
				http.Error(w, "spotifytest: request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			if len(b) > 0 {
				body = b
			}
			// The handler gets the same bytes the recorder kept.
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		rec := Request{
			Time:     time.Now(),
			Host:     fakeHostOf(r.Host),
			Method:   r.Method,
			Path:     r.URL.Path,
			RawQuery: r.URL.RawQuery,
			Header:   r.Header.Clone(),
			Body:     body,
		}
		f.mu.Lock()
		f.requests = append(f.requests, rec)
		f.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (f *Fake) fakeKnobs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := fakeHostOf(r.Host)
		f.mu.Lock()
		var match []*Knob
		for _, k := range f.knobs {
			if (k.host == "" || k.host == host) && strings.HasPrefix(r.URL.Path, k.prefix) {
				match = append(match, k)
			}
		}
		f.mu.Unlock()
		for _, k := range match {
			if k.intercept(w, r) {
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (f *Fake) fakeRoute(w http.ResponseWriter, r *http.Request) {
	host := fakeHostOf(r.Host)
	f.mu.Lock()
	h := f.hosts[host]
	f.mu.Unlock()
	if h == nil {
		http.Error(w, fmt.Sprintf("spotifytest: no handler mounted for host %q", host), http.StatusNotFound)
		return
	}
	h.ServeHTTP(w, r)
}

package zeroconfsrv

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/speakerbox/speakerbox/zeroconfsrv/mdns"
)

// Ping goes through the Run loop and a getInfo served by the HTTP server;
// a wedged part of either makes it fail, naming that part, and it answers
// again once the part is free.
func TestPingCoversLoopAndHTTPServer(t *testing.T) {
	s, fn, fm, _ := newTestServer(t, []string{"eth0"})
	fn.set(Iface{Name: "eth0", Index: 2, Flags: up, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})

	// The handler can be wedged: the test holds it inside ServeHTTP.
	var wedge struct {
		sync.Mutex
		on      bool
		entered chan struct{}
		release chan struct{}
	}
	inner := s.http.Handler
	s.http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wedge.Lock()
		on, entered, release := wedge.on, wedge.entered, wedge.release
		wedge.Unlock()
		if on {
			close(entered)
			<-release
		}
		inner.ServeHTTP(w, r)
	})
	// mDNS registration can be wedged too: the Run loop is then stuck in
	// sync.
	regEntered, regRelease := make(chan struct{}), make(chan struct{})
	var blockReg sync.Once
	wedgeReg := false
	advertise := s.cfg.Advertise
	s.cfg.Advertise = func(svc mdns.Service) (mdns.Registration, error) {
		if wedgeReg {
			blockReg.Do(func() { close(regEntered); <-regRelease })
		}
		return advertise(svc)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	<-s.Ready()
	if len(s.Addrs()) != 1 || fm.live(t) == nil {
		t.Fatalf("Ready before discovery was up: addrs %v", s.Addrs())
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("healthy server: %v", err)
	}

	// The handler hangs: the ping fails at getInfo.
	wedge.Lock()
	wedge.on, wedge.entered, wedge.release = true, make(chan struct{}), make(chan struct{})
	entered, release := wedge.entered, wedge.release
	wedge.Unlock()
	pctx, pcancel := context.WithCancel(context.Background())
	perr := make(chan error, 1)
	go func() { perr <- s.Ping(pctx) }()
	<-entered
	pcancel()
	if err := <-perr; err == nil || !strings.Contains(err.Error(), "getInfo") || !errors.Is(err, context.Canceled) {
		t.Fatalf("Ping with the handler stuck = %v, want a getInfo error", err)
	}
	wedge.Lock()
	wedge.on = false
	wedge.Unlock()
	close(release)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("after the handler came back: %v", err)
	}

	// The Run loop hangs in an mDNS registration (a rename re-registers).
	wedgeReg = true // read by Run's goroutine only after SetName below
	s.SetName("Kitchen 2")
	<-regEntered
	pctx, pcancel = context.WithCancel(context.Background())
	pcancel()
	if err := s.Ping(pctx); err == nil || !strings.Contains(err.Error(), "discovery loop") {
		t.Fatalf("Ping with the loop stuck = %v, want the discovery loop named", err)
	}
	close(regRelease)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("after the registration returned: %v", err)
	}
}

// The liveness path takes no connection slot: with every slot held by
// clients on the network listeners, Ping still answers.
func TestPingNotBlockedByFullConnectionLimit(t *testing.T) {
	s, fn, _, _ := newTestServerLimits(t, []string{"eth0"}, Limits{MaxConns: 2})
	fn.set(Iface{Name: "eth0", Index: 2, Flags: up, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-s.Ready()
	// Every slot is taken, as by clients that connected and send nothing
	// (TestServerConnectionBound shows the network listeners then wait).
	// (A waiting Accept holds a slot already.)
	for full := false; !full; {
		select {
		case s.sem <- struct{}{}:
		default:
			full = true
		}
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping with the connection limit reached: %v", err)
	}
}

package zeroconfsrv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	devicespb "github.com/devgianlu/go-librespot/proto/spotify/connectstate/devices"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/zeroconfsrv/mdns"
)

type fakeNet struct {
	mu     sync.Mutex
	ifaces []Iface
	err    error
}

func (f *fakeNet) list() ([]Iface, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Iface(nil), f.ifaces...), f.err
}

func (f *fakeNet) set(ifs ...Iface) { f.mu.Lock(); f.ifaces = ifs; f.mu.Unlock() }

type fakeReg struct {
	svc  mdns.Service
	down bool
}

func (r *fakeReg) Shutdown() { r.down = true }

type fakeMDNS struct {
	regs []*fakeReg
	fail bool
}

func (m *fakeMDNS) advertise(s mdns.Service) (mdns.Registration, error) {
	if m.fail {
		return nil, errors.New("no multicast here")
	}
	r := &fakeReg{svc: s}
	m.regs = append(m.regs, r)
	return r, nil
}

func (m *fakeMDNS) live(t *testing.T) *fakeReg {
	t.Helper()
	var live *fakeReg
	for _, r := range m.regs {
		if !r.down {
			if live != nil {
				t.Fatal("two live registrations")
			}
			live = r
		}
	}
	return live
}

func newTestServer(t *testing.T, names []string) (*Server, *fakeNet, *fakeMDNS, *bytes.Buffer) {
	return newTestServerLimits(t, names, Limits{})
}

func newTestServerLimits(t *testing.T, names []string, lim Limits) (*Server, *fakeNet, *fakeMDNS, *bytes.Buffer) {
	t.Helper()
	// The fake interfaces carry loopback addresses (the only ones a test can
	// bind); naming the interface lets them through the selection.
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, nil))
	fn, fm := &fakeNet{}, &fakeMDNS{}
	s, err := New(Config{
		Handler: HandlerConfig{
			Info:   Info{Name: "Kitchen", DeviceType: devicespb.DeviceType_SPEAKER, DeviceID: testDeviceID, Model: "librespot"},
			Logger: log,
		},
		Interfaces:     names,
		Limits:         lim,
		ListInterfaces: fn.list,
		Advertise:      fm.advertise,
	}, creds.NewStore(t.TempDir(), log, time.Now), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s, fn, fm, &logs
}

var up = net.FlagUp | net.FlagMulticast

func getInfo(addr string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/?action=getInfo")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var gi GetInfo
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &gi); err != nil {
		return "", err
	}
	return gi.RemoteName, nil
}

func TestServerFollowsAddresses(t *testing.T) {
	s, fn, fm, _ := newTestServer(t, []string{"eth0"})
	a1, a2 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")

	s.sync(false)
	if len(fm.regs) != 0 || len(s.Addrs()) != 0 {
		t.Fatal("advertised or listening with no interface")
	}

	// An interface appears: listen on it, advertise it.
	fn.set(Iface{Name: "eth0", Index: 2, Flags: up, Addrs: []netip.Addr{a1}})
	s.sync(false)
	reg := fm.live(t)
	if reg == nil || reg.svc.Instance != "Kitchen" || reg.svc.Port == 0 || len(reg.svc.IPs) != 1 || reg.svc.IPs[0] != a1 || reg.svc.Ifaces[0] != 2 {
		t.Fatalf("registration %+v", reg)
	}
	if reg.svc.Host != "speakerbox-0f1e2d3c" {
		t.Fatalf("SRV target %q", reg.svc.Host)
	}
	port := strconv.Itoa(reg.svc.Port)
	if name, err := getInfo("127.0.0.1:" + port); err != nil || name != "Kitchen" {
		t.Fatalf("getInfo on the advertised address: %q %v", name, err)
	}
	if _, err := getInfo("127.0.0.2:" + port); err == nil {
		t.Fatal("API answers on an address that is not advertised")
	}

	// Nothing changed: no re-registration.
	s.sync(false)
	if len(fm.regs) != 1 {
		t.Fatalf("re-registered without a change (%d registrations)", len(fm.regs))
	}

	// A second address: same port, re-registered with both.
	fn.set(Iface{Name: "eth0", Index: 2, Flags: up, Addrs: []netip.Addr{a1, a2}})
	s.sync(false)
	reg = fm.live(t)
	if !fm.regs[0].down || len(reg.svc.IPs) != 2 || reg.svc.Port != fm.regs[0].svc.Port {
		t.Fatalf("after adding an address: old down=%v, new %+v", fm.regs[0].down, reg.svc)
	}
	if _, err := getInfo("127.0.0.2:" + port); err != nil {
		t.Fatalf("new address not served: %v", err)
	}

	// The first address goes away.
	fn.set(Iface{Name: "eth0", Index: 2, Flags: up, Addrs: []netip.Addr{a2}})
	s.sync(false)
	if reg = fm.live(t); len(reg.svc.IPs) != 1 || reg.svc.IPs[0] != a2 {
		t.Fatalf("after removing an address: %+v", reg.svc)
	}
	if _, err := getInfo("127.0.0.1:" + port); err == nil {
		t.Fatal("still serving on a removed address")
	}

	// Rename: re-announced under the new name.
	s.SetName("Bedroom")
	s.sync(true)
	if reg = fm.live(t); reg.svc.Instance != "Bedroom" {
		t.Fatalf("after rename: %+v", reg.svc)
	}
	if name, _ := getInfo("127.0.0.2:" + port); name != "Bedroom" {
		t.Fatalf("getInfo after rename: %q", name)
	}

	// Everything goes: goodbye, nothing served.
	fn.set()
	s.sync(false)
	if fm.live(t) != nil || len(s.Addrs()) != 0 {
		t.Fatal("still advertising or listening with no interface")
	}
}

func TestServerRunStopsWithGoodbye(t *testing.T) {
	s, fn, fm, _ := newTestServer(t, []string{"eth0"})
	fn.set(Iface{Name: "eth0", Index: 2, Flags: up, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	for len(s.Addrs()) == 0 { // Run's first sync is immediate
		time.Sleep(time.Millisecond)
	}
	addr := s.Addrs()[0].String()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(fm.regs) != 1 || !fm.regs[0].down {
		t.Fatal("no goodbye on shutdown")
	}
	if _, err := getInfo(addr); err == nil {
		t.Fatal("still serving after Run returned")
	}
}

func TestServerRetriesFailedRegistration(t *testing.T) {
	s, fn, fm, logs := newTestServer(t, []string{"eth0"})
	fn.set(Iface{Name: "eth0", Index: 2, Flags: up, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
	fm.fail = true
	s.sync(false)
	if !bytes.Contains(logs.Bytes(), []byte("mDNS registration failed")) {
		t.Fatal("failure not logged")
	}
	if len(s.Addrs()) != 1 {
		t.Fatal("a failed advertisement took the API down")
	}
	fm.fail = false
	s.sync(false)
	if fm.live(t) == nil {
		t.Fatal("registration not retried")
	}
}

func TestSelectInterfaces(t *testing.T) {
	ll := netip.MustParseAddr("fe80::1")
	all := []Iface{
		{Name: "lo", Index: 1, Flags: net.FlagUp | net.FlagLoopback, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}},
		{Name: "eth0", Index: 2, Flags: up, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.5"), ll, netip.MustParseAddr("2001:db8::5")}},
		{Name: "eth1", Index: 3, Flags: net.FlagMulticast, Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.1")}}, // down
		{Name: "tun0", Index: 4, Flags: net.FlagUp | net.FlagPointToPoint, Addrs: []netip.Addr{netip.MustParseAddr("10.8.0.1")}},
		{Name: "wlan0", Index: 5, Flags: up}, // no address yet
	}
	got := selectInterfaces(all, nil)
	if len(got) != 1 || got[0].Name != "eth0" || len(got[0].Addrs) != 3 || got[0].Addrs[1] != ll.WithZone("eth0") {
		t.Fatalf("default selection: %+v", got)
	}
	got = selectInterfaces(all, []string{"lo", "tun0", "eth1"})
	if len(got) != 2 || got[0].Name != "lo" || got[1].Name != "tun0" {
		t.Fatalf("named selection (up only): %+v", got)
	}
}

func TestLimitListenerCloseUnblocksAccept(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sem := make(chan struct{}, 1)
	sem <- struct{}{} // the bound is reached
	ll := &limitListener{Listener: l, sem: sem, done: make(chan struct{})}
	res := make(chan error)
	go func() { _, err := ll.Accept(); res <- err }()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ll.Close()
	if err := <-res; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept at the bound after Close: %v", err)
	}
}

func TestLimitListenerReleasesSlots(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	sem := make(chan struct{}, 1)
	ll := &limitListener{Listener: l, sem: sem, done: make(chan struct{})}
	defer ll.Close()
	for range 3 { // three sequential connections through a bound of one
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ll.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if len(sem) != 1 {
			t.Fatal("slot not taken")
		}
		sc.Close()
		sc.Close() // idempotent
		c.Close()
		if len(sem) != 0 {
			t.Fatal("slot not released")
		}
	}
}

func servingServer(t *testing.T, lim Limits) string {
	t.Helper()
	s, fn, _, _ := newTestServerLimits(t, []string{"eth0"}, lim)
	fn.set(Iface{Name: "eth0", Index: 2, Flags: up, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
	s.sync(false)
	return s.Addrs()[0].String()
}

// A client that sends half a request header is cut off by the header
// timeout, not held forever (slowloris).
func TestServerHeaderTimeout(t *testing.T) {
	addr := servingServer(t, Limits{ReadHeaderTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /?action=getInfo HTTP/1.1\r\nHost: x\r\n")) // never finished
	c.SetReadDeadline(time.Now().Add(20 * time.Second))             // safety net only
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept a half-sent request open")
	}
	if bytes.Contains(b, []byte("101")) {
		t.Fatalf("answered a half-sent request: %q", b)
	}
}

// An idle keep-alive connection is closed after the idle timeout.
func TestServerIdleTimeout(t *testing.T) {
	addr := servingServer(t, Limits{IdleTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /?action=getInfo HTTP/1.1\r\nHost: x\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c) // returns once the server closes the idle connection
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("idle keep-alive connection never closed")
	}
	if !bytes.Contains(b, []byte(`"status":101`)) {
		t.Fatalf("no getInfo answer before the close: %q", b)
	}
}

// With the connection bound reached, a further client waits until a slot
// frees, and is then served.
func TestServerConnectionBound(t *testing.T) {
	addr := servingServer(t, Limits{MaxConns: 1})
	hog, err := net.Dial("tcp", addr) // accepted first, sends nothing
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /?action=getInfo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _ := c.Read(make([]byte, 1)); n != 0 {
		t.Fatal("served a connection beyond the bound")
	}
	hog.Close()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, _ := io.ReadAll(c)
	if !bytes.Contains(b, []byte(`"status":101`)) {
		t.Fatalf("not served after the slot freed: %q", b)
	}
}

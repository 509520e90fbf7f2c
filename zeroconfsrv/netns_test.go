package zeroconfsrv

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	devicespb "github.com/devgianlu/go-librespot/proto/spotify/connectstate/devices"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/internal/testenv"
)

// helperEnv makes the test binary, re-executed inside a network namespace,
// run the speaker side (helperSpeaker) instead of the tests.
const helperEnv = "SPEAKERBOX_ZC_NETNS_HELPER"

// TestMain runs the speaker side of TestMDNSWithRealBrowser when the test
// binary is re-executed for it, and the tests otherwise. (The helper is
// not a test that skips: under CI a skip must mean a gap.)
func TestMain(m *testing.M) {
	if iface := os.Getenv(helperEnv); iface != "" {
		os.Exit(helperSpeaker(iface))
	}
	os.Exit(m.Run())
}

// helperSpeaker runs a real Server on iface, inside the speaker's
// namespace, until its stdin closes, then shuts down (sending goodbye). It
// returns the exit status.
func helperSpeaker(iface string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	dir, err := os.MkdirTemp("", "sbzc-helper-")
	if err != nil {
		log.Error("helper", "err", err)
		return 1
	}
	defer os.RemoveAll(dir)
	s, err := New(Config{
		Handler: HandlerConfig{
			Info:   Info{Name: "Speakerbox Test Kitchen", DeviceType: devicespb.DeviceType_SPEAKER, DeviceID: testDeviceID, Model: "librespot"},
			Logger: log,
		},
		Interfaces:   []string{iface},
		PollInterval: 200 * time.Millisecond,
	}, creds.NewStore(dir, log, time.Now), nil)
	if err != nil {
		log.Error("helper", "err", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		// Report once whether the API answers on loopback (it must not).
		for len(s.Addrs()) == 0 {
			if ctx.Err() != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		port := s.Addrs()[0].Port()
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			fmt.Println("LOOPBACK-OPEN")
		} else {
			fmt.Println("LOOPBACK-REFUSED")
		}
	}()
	_, _ = io.Copy(io.Discard, os.Stdin)
	cancel()
	if err := <-done; err != nil {
		log.Error("helper", "err", err)
		return 1
	}
	<-probed
	return 0
}

type browseEvent struct {
	Event     string            `json:"event"`
	Name      string            `json:"name"`
	Server    string            `json:"server"`
	Port      int               `json:"port"`
	Addresses []string          `json:"addresses"`
	TXT       map[string]string `json:"txt"`
	// RemoteNames maps each address the browser resolved to the remoteName
	// getInfo answered there.
	RemoteNames map[string]string `json:"remoteNames"`
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestMDNSWithRealBrowser advertises the speaker in one network namespace and
// finds it with python3-zeroconf in another, joined by a veth pair this test
// creates: name, port, TXT, the SRV target's A record and getInfo over HTTP;
// then an address change, then the goodbye on shutdown.
func TestMDNSWithRealBrowser(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root to create network namespaces (ip netns add); run as root")
	}
	testenv.Tool(t, "ip", "iproute2")
	if err := exec.Command("/usr/bin/python3", "-c", "import zeroconf").Run(); err != nil {
		testenv.Missing(t, "needs Debian's python3-zeroconf (apt-get install python3-zeroconf): %v", err)
	}
	pid := os.Getpid() % 100000
	nsA, nsB := fmt.Sprintf("sbzc%da", pid), fmt.Sprintf("sbzc%db", pid)
	vA, vB := fmt.Sprintf("sbz%da", pid), fmt.Sprintf("sbz%db", pid)
	subnet := fmt.Sprintf("10.231.%d", pid%250)
	v6net := fmt.Sprintf("fd00:231:%x::", pid%250)
	// The browser reports addresses in canonical form: with pid%250 == 0,
	// "fd00:231:0::1" comes back as "fd00:231::1".
	v6addr := netip.MustParseAddr(v6net + "1").String()
	run(t, "ip", "netns", "add", nsA)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsA).Run() })
	run(t, "ip", "netns", "add", nsB)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsB).Run() })
	run(t, "ip", "link", "add", vA, "netns", nsA, "type", "veth", "peer", "name", vB, "netns", nsB)
	for _, c := range [][]string{
		{"-n", nsA, "link", "set", "lo", "up"}, {"-n", nsA, "link", "set", vA, "up"},
		{"-n", nsB, "link", "set", "lo", "up"}, {"-n", nsB, "link", "set", vB, "up"},
		{"-n", nsB, "addr", "add", subnet + ".2/24", "dev", vB},
		{"-n", nsB, "addr", "add", v6net + "2/64", "dev", vB, "nodad"},
	} {
		run(t, append([]string{"ip"}, c...)...)
	}
	// Traffic stays on the veth: the namespaces have no other route.
	if out, err := exec.Command("ip", "-n", nsB, "route", "get", subnet+".1").CombinedOutput(); err != nil || !strings.Contains(string(out), "dev "+vB) {
		t.Fatalf("route to the speaker does not stay on %s: %s %v", vB, out, err)
	}

	// The speaker starts before its interface has an address, as at boot.
	self, _ := os.Executable()
	spk := exec.Command("ip", "netns", "exec", nsA, self, "-test.run=^$")
	spk.Env = append(os.Environ(), helperEnv+"="+vA)
	spkIn, _ := spk.StdinPipe()
	spkOut := &lockedBuilder{}
	spk.Stdout = spkOut
	spkErr := &lockedBuilder{}
	spk.Stderr = spkErr
	if err := spk.Start(); err != nil {
		t.Fatal(err)
	}
	spkDone := make(chan error, 1)
	go func() { spkDone <- spk.Wait() }()
	t.Cleanup(func() {
		spkIn.Close()
		select {
		case <-spkDone:
		case <-time.After(10 * time.Second):
			spk.Process.Kill()
		}
	})

	script, _ := filepath.Abs(filepath.Join("testdata", "browse.py"))
	br := exec.Command("ip", "netns", "exec", nsB, "/usr/bin/python3", script)
	br.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"} // no proxies
	brIn, _ := br.StdinPipe()
	brOut, _ := br.StdoutPipe()
	br.Stderr = os.Stderr
	if err := br.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { brIn.Close(); br.Process.Kill(); br.Wait() })
	events := make(chan browseEvent, 64)
	go func() {
		sc := bufio.NewScanner(brOut)
		for sc.Scan() {
			var e browseEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				events <- e
			}
		}
		close(events)
	}()
	wait := func(what string, ok func(browseEvent) bool) browseEvent {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case e, open := <-events:
				if !open {
					t.Fatalf("browser exited while waiting for %s\nspeaker log:\n%s", what, spkErr)
				}
				t.Logf("browser: %+v", e)
				if ok(e) {
					return e
				}
			case <-deadline:
				t.Fatalf("no %s within 30 s\nspeaker log:\n%s", what, spkErr)
			}
		}
	}
	wait("browser start", func(e browseEvent) bool { return e.Event == "browsing" })

	const instance = "Speakerbox Test Kitchen._spotify-connect._tcp.local."
	run(t, "ip", "-n", nsA, "addr", "add", subnet+".1/24", "dev", vA)
	run(t, "ip", "-n", nsA, "addr", "add", v6net+"1/64", "dev", vA, "nodad")
	e := wait("the speaker on IPv4 and IPv6", func(e browseEvent) bool {
		return (e.Event == "added" || e.Event == "updated") && slices.Contains(e.Addresses, subnet+".1") && slices.Contains(e.Addresses, v6addr)
	})
	if e.Name != instance || e.Port == 0 || e.Server != "speakerbox-0f1e2d3c.local." {
		t.Errorf("found %+v", e)
	}
	wantTXT := map[string]string{"CPath": "/", "VERSION": "1.0", "Stack": "SP"}
	if fmt.Sprint(e.TXT) != fmt.Sprint(wantTXT) {
		t.Errorf("TXT = %v, want %v", e.TXT, wantTXT)
	}
	for _, a := range []string{subnet + ".1", v6addr} {
		if e.RemoteNames[a] != "Speakerbox Test Kitchen" {
			t.Errorf("getInfo over the advertised address %s: %q", a, e.RemoteNames[a])
		}
	}
	port := e.Port

	// The address changes: the advertisement follows, on the same port.
	// (Deleted first: deleting a primary address takes its secondaries along.)
	run(t, "ip", "-n", nsA, "addr", "del", subnet+".1/24", "dev", vA)
	run(t, "ip", "-n", nsA, "addr", "add", subnet+".3/24", "dev", vA)
	e = wait("the new address", func(e browseEvent) bool {
		return (e.Event == "added" || e.Event == "updated") && slices.Contains(e.Addresses, subnet+".3") && !slices.Contains(e.Addresses, subnet+".1")
	})
	if e.Port != port || e.RemoteNames[subnet+".3"] != "Speakerbox Test Kitchen" {
		t.Errorf("after the address change: %+v", e)
	}

	// Shutdown: goodbye records make the speaker disappear at once (well
	// before its 120 s/75 min TTLs).
	spkIn.Close()
	wait("the goodbye", func(e browseEvent) bool { return e.Event == "removed" && e.Name == instance })
	select {
	case err := <-spkDone:
		if err != nil {
			t.Fatalf("speaker exited with %v\n%s", err, spkErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("speaker did not exit")
	}
	if !strings.Contains(spkOut.String(), "LOOPBACK-REFUSED") {
		t.Errorf("the API answered on 127.0.0.1 although only %s was configured:\n%s", vA, spkOut)
	}
}

// lockedBuilder collects a child's output, written by exec's copying
// goroutine while the test may read it for a failure message.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

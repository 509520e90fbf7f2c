package mdns

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/internal/testenv"
)

// cycleEnv makes the test binary, re-executed inside a network namespace,
// run cycleHelper instead of the tests.
const cycleEnv = "SPEAKERBOX_MDNS_CYCLES"

func TestMain(m *testing.M) {
	if v := os.Getenv(cycleEnv); v != "" {
		os.Exit(cycleHelper(v))
	}
	os.Exit(m.Run())
}

// cycleHelper registers and shuts down right away, n times, on the
// interface and address given as "n,iface,addr", and checks after each
// Shutdown that every goroutine the registration started has ended. The
// race detector (the test binary is built with -race in CI) watches the
// rest: grandcat/zeroconf v1.0.0 failed here, its receive loops calling
// WaitGroup.Add inside the goroutines that Shutdown's Wait races.
func cycleHelper(v string) int {
	parts := strings.Split(v, ",")
	if len(parts) != 3 {
		fmt.Fprintln(os.Stderr, "bad", cycleEnv, v)
		return 2
	}
	n, _ := strconv.Atoi(parts[0])
	ifc, err := net.InterfaceByName(parts[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	svc := Service{Instance: "Cycle Test", Host: "speakerbox-cycle", Port: 4070, IPs: []netip.Addr{netip.MustParseAddr(parts[2])}, Ifaces: []int{ifc.Index}}
	base := runtime.NumGoroutine()
	for i := 0; i < n; i++ {
		reg, err := Register(svc)
		if err != nil {
			fmt.Fprintf(os.Stderr, "cycle %d: %v\n", i, err)
			return 1
		}
		reg.Shutdown()
		// A goroutine that has called wg.Done may not have returned yet
		// (its thread descheduled on a loaded machine): yield until it has,
		// with a generous bound.
		g := runtime.NumGoroutine()
		for deadline := time.Now().Add(5 * time.Second); g > base && time.Now().Before(deadline); {
			runtime.Gosched()
			g = runtime.NumGoroutine()
		}
		if g > base && os.Getenv("MDNS_NO_GOROUTINE_CHECK") == "" {
			buf := make([]byte, 1<<16)
			fmt.Fprintf(os.Stderr, "cycle %d: %d goroutines outlive Shutdown (%d before):\n%s\n", i, g-base, base, buf[:runtime.Stack(buf, true)])
			return 1
		}
	}
	fmt.Println("CYCLES-OK")
	return 0
}

// TestRegisterShutdownCycles runs cycleHelper inside a network namespace
// this test makes (a veth pair, nothing else), so that no packet reaches
// the host's network.
func TestRegisterShutdownCycles(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root to create a network namespace (ip netns add); run as root")
	}
	testenv.Tool(t, "ip", "iproute2")
	pid := os.Getpid() % 100000
	ns := fmt.Sprintf("sbmd%d", pid)
	addr := fmt.Sprintf("10.232.%d.1", pid%250)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run("-n", ns, "link", "add", "sbmda", "type", "veth", "peer", "name", "sbmdb")
	run("-n", ns, "link", "set", "sbmda", "up")
	run("-n", ns, "link", "set", "sbmdb", "up")
	run("-n", ns, "addr", "add", addr+"/24", "dev", "sbmda")
	cycles := 500
	if testing.Short() {
		cycles = 50
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd := exec.Command("ip", "netns", "exec", ns, self, "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,sbmda,%s", cycleEnv, cycles, addr))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "CYCLES-OK") {
		t.Fatalf("%d register/shutdown cycles: %v\n%s", cycles, err, out)
	}
	t.Logf("%d register/shutdown cycles in %v", cycles, time.Since(start).Round(time.Millisecond))
}

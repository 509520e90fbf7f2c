package mdns

import (
	"net/netip"
	"strings"
	"testing"
)

// The advertisement itself is tested against python3-zeroconf in
// zeroconfsrv/netns_test.go; here only the refusals that need no network.
func TestRegisterRefusesNothingToAdvertise(t *testing.T) {
	if _, err := Register(Service{Instance: "x", Host: "h", Port: 1, Ifaces: []int{1}}); err == nil || !strings.Contains(err.Error(), "no address") {
		t.Fatalf("no IPs: %v", err)
	}
	if _, err := Register(Service{Instance: "x", Host: "h", Port: 1, IPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}); err == nil {
		t.Fatal("no interfaces: accepted")
	}
	if _, err := Register(Service{Instance: "x", Host: "h", Port: 1, IPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, Ifaces: []int{1 << 30}}); err == nil || !strings.Contains(err.Error(), "interface") {
		t.Fatalf("unknown interface: %v", err)
	}
}

func TestTXT(t *testing.T) {
	if strings.Join(TXT, " ") != "CPath=/ VERSION=1.0 Stack=SP" || ServiceType != "_spotify-connect._tcp" {
		t.Fatalf("TXT %v, type %s", TXT, ServiceType)
	}
}

// Package mdns advertises the speaker's _spotify-connect._tcp service with
// grandcat/zeroconf: one registration per set of addresses, with the SRV
// target's A/AAAA records taken from exactly the addresses the HTTP API
// listens on, and goodbye records when a registration is shut down.
//
// grandcat/zeroconf starts goroutines of its own: the receive loops end in
// Shutdown; the probe/announce goroutine is not waited for (it only writes,
// and its writes fail harmlessly once the sockets are closed). It also logs a
// line through the standard log package when an interface cannot join the
// multicast group.
package mdns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/grandcat/zeroconf"
)

// ServiceType and Domain are those of Spotify Connect.
const (
	ServiceType = "_spotify-connect._tcp"
	Domain      = "local."
)

// TXT is the TXT record the ZeroConf API spec asks for: the API lives at
// CPath on our HTTP port.
var TXT = []string{"CPath=/", "VERSION=1.0", "Stack=SP"}

// Service is one advertisement.
type Service struct {
	Instance string       // the device name, shown in the apps
	Host     string       // SRV target, without the domain
	Port     int          // HTTP port of the ZeroConf API
	IPs      []netip.Addr // A/AAAA records of Host
	Ifaces   []int        // indexes of the interfaces to answer on
}

// Registration is a live advertisement.
type Registration interface {
	// Shutdown sends goodbye records (TTL 0) and stops answering.
	Shutdown()
}

// Register starts answering for s on its interfaces.
func Register(s Service) (Registration, error) {
	if len(s.IPs) == 0 || len(s.Ifaces) == 0 {
		return nil, errors.New("mdns: nothing to advertise: no address or interface")
	}
	ifaces := make([]net.Interface, 0, len(s.Ifaces))
	for _, idx := range s.Ifaces {
		ifc, err := net.InterfaceByIndex(idx)
		if err != nil {
			return nil, fmt.Errorf("mdns: interface %d: %w", idx, err)
		}
		ifaces = append(ifaces, *ifc)
	}
	ips := make([]string, len(s.IPs))
	for i, ip := range s.IPs {
		ips[i] = ip.WithZone("").String()
	}
	srv, err := zeroconf.RegisterProxy(s.Instance, ServiceType, Domain, s.Port, s.Host, ips, TXT, ifaces)
	if err != nil {
		return nil, fmt.Errorf("mdns: register %q on port %d: %w", s.Instance, s.Port, err)
	}
	return srv, nil
}

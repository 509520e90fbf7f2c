package mdns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

var (
	group4 = &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: mdnsPort}
	group6 = net.ParseIP("ff02::fb")
)

// sock is one family's socket on port 5353.
type sock interface {
	read(buf []byte) (n, ifIndex int, from *net.UDPAddr, err error)
	multicast(m *dns.Msg, ifIndex int) error
	unicast(m *dns.Msg, ifIndex int, to *net.UDPAddr) error
	v6() bool
	close()
}

// sockets are the IPv4 and IPv6 sockets of a registration; either may be
// missing (an interface without IPv6, a kernel without it).
type sockets struct{ v4, v6 sock }

func (s sockets) each(f func(sock)) {
	for _, c := range []sock{s.v4, s.v6} {
		if c != nil {
			f(c)
		}
	}
}

func (s sockets) count() int {
	n := 0
	s.each(func(sock) { n++ })
	return n
}

func (s sockets) close() { s.each(func(c sock) { c.close() }) }

// listen5353 binds port 5353 shared (SO_REUSEADDR/SO_REUSEPORT): avahi or
// another responder on the machine, and our next registration while this
// one says goodbye, hold it too, and the kernel gives each a copy of every
// multicast datagram.
func listen5353(network, addr string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		return errors.Join(err, serr)
	}}
	return lc.ListenPacket(context.Background(), network, addr)
}

// openSockets opens and joins what it can: an error only if neither family
// works on any interface.
func openSockets(ifaces []net.Interface, log *slog.Logger) (sockets, error) {
	var s sockets
	var errs []error
	if c, err := open4(ifaces, log); err != nil {
		errs = append(errs, fmt.Errorf("IPv4: %w", err))
	} else {
		s.v4 = c
	}
	if c, err := open6(ifaces, log); err != nil {
		errs = append(errs, fmt.Errorf("IPv6: %w", err))
	} else {
		s.v6 = c
	}
	if s.v4 == nil && s.v6 == nil {
		return s, errors.Join(errs...)
	}
	for _, err := range errs {
		log.Debug("mdns: one address family unavailable", "err", err)
	}
	return s, nil
}

type sock4 struct{ pc *ipv4.PacketConn }

func open4(ifaces []net.Interface, log *slog.Logger) (*sock4, error) {
	c, err := listen5353("udp4", "0.0.0.0:5353")
	if err != nil {
		return nil, err
	}
	pc := ipv4.NewPacketConn(c)
	joined := 0
	for i := range ifaces {
		if err := pc.JoinGroup(&ifaces[i], &net.UDPAddr{IP: group4.IP}); err != nil {
			log.Debug("mdns: cannot join the IPv4 group", "iface", ifaces[i].Name, "err", err)
			continue
		}
		joined++
	}
	if joined == 0 {
		_ = c.Close()
		return nil, errors.New("no interface joined 224.0.0.251")
	}
	// Replies must reach hosts on the link only (§11), and we need each
	// query's interface to answer on it and to ignore the others.
	if err := errors.Join(pc.SetMulticastTTL(255), pc.SetTTL(255), pc.SetControlMessage(ipv4.FlagInterface, true)); err != nil {
		_ = c.Close()
		return nil, err
	}
	return &sock4{pc}, nil
}

func (s *sock4) read(buf []byte) (int, int, *net.UDPAddr, error) {
	n, cm, from, err := s.pc.ReadFrom(buf)
	if err != nil {
		return 0, 0, nil, err
	}
	ua, _ := from.(*net.UDPAddr)
	if cm == nil || ua == nil {
		return 0, 0, nil, errors.New("mdns: datagram without interface or source")
	}
	return n, cm.IfIndex, ua, nil
}

func (s *sock4) multicast(m *dns.Msg, ifIndex int) error {
	return s.send(m, ifIndex, group4)
}

func (s *sock4) unicast(m *dns.Msg, ifIndex int, to *net.UDPAddr) error {
	if to.IP.To4() == nil {
		return nil
	}
	return s.send(m, ifIndex, to)
}

func (s *sock4) send(m *dns.Msg, ifIndex int, to *net.UDPAddr) error {
	b, err := m.Pack()
	if err != nil {
		return fmt.Errorf("mdns: pack: %w", err)
	}
	_, err = s.pc.WriteTo(b, &ipv4.ControlMessage{IfIndex: ifIndex}, to)
	return err
}

func (s *sock4) v6() bool { return false }
func (s *sock4) close()   { _ = s.pc.Close() }

type sock6 struct{ pc *ipv6.PacketConn }

func open6(ifaces []net.Interface, log *slog.Logger) (*sock6, error) {
	c, err := listen5353("udp6", "[::]:5353")
	if err != nil {
		return nil, err
	}
	pc := ipv6.NewPacketConn(c)
	joined := 0
	for i := range ifaces {
		if err := pc.JoinGroup(&ifaces[i], &net.UDPAddr{IP: group6}); err != nil {
			log.Debug("mdns: cannot join the IPv6 group", "iface", ifaces[i].Name, "err", err)
			continue
		}
		joined++
	}
	if joined == 0 {
		_ = c.Close()
		return nil, errors.New("no interface joined ff02::fb")
	}
	if err := errors.Join(pc.SetMulticastHopLimit(255), pc.SetHopLimit(255), pc.SetControlMessage(ipv6.FlagInterface, true)); err != nil {
		_ = c.Close()
		return nil, err
	}
	return &sock6{pc}, nil
}

func (s *sock6) read(buf []byte) (int, int, *net.UDPAddr, error) {
	n, cm, from, err := s.pc.ReadFrom(buf)
	if err != nil {
		return 0, 0, nil, err
	}
	ua, _ := from.(*net.UDPAddr)
	if cm == nil || ua == nil {
		return 0, 0, nil, errors.New("mdns: datagram without interface or source")
	}
	return n, cm.IfIndex, ua, nil
}

func (s *sock6) multicast(m *dns.Msg, ifIndex int) error {
	ifc, err := net.InterfaceByIndex(ifIndex)
	if err != nil {
		return err
	}
	return s.send(m, ifIndex, &net.UDPAddr{IP: group6, Port: mdnsPort, Zone: ifc.Name})
}

func (s *sock6) unicast(m *dns.Msg, ifIndex int, to *net.UDPAddr) error {
	if to.IP.To4() != nil {
		return nil
	}
	return s.send(m, ifIndex, to)
}

func (s *sock6) send(m *dns.Msg, ifIndex int, to *net.UDPAddr) error {
	b, err := m.Pack()
	if err != nil {
		return fmt.Errorf("mdns: pack: %w", err)
	}
	_, err = s.pc.WriteTo(b, &ipv6.ControlMessage{IfIndex: ifIndex, HopLimit: 255}, to)
	return err
}

func (s *sock6) v6() bool { return true }
func (s *sock6) close()   { _ = s.pc.Close() }

// Package mdns advertises the speaker's _spotify-connect._tcp service over
// multicast DNS (RFC 6762/6763): one registration per set of addresses, with
// the SRV target's A/AAAA records taken from exactly the addresses the HTTP
// API listens on, three announcements at start and goodbye records (TTL 0)
// when a registration is shut down.
//
// It is our own small responder rather than grandcat/zeroconf v1.0.0: that
// library's receive goroutines call WaitGroup.Add inside themselves, racing
// the Wait in its Shutdown (the race detector caught it in CI; see
// TestRegisterShutdownCycles), and its announce goroutine outlives Shutdown
// by up to eight seconds. Here Shutdown returns only once every goroutine a
// registration started has ended.
//
// What it does not do: probing and conflict resolution (RFC 6762 §8.1-9).
// The host name is ours (speakerbox-<device id>), and a second speaker
// with the same instance name shows up twice in the apps' lists rather than
// being renamed.
package mdns

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
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
	Logger   *slog.Logger // nil: no logging
}

// Registration is a live advertisement.
type Registration interface {
	// Shutdown sends goodbye records (TTL 0), stops answering and returns
	// once every goroutine of the registration has ended.
	Shutdown()
}

// announceGaps are the pauses before the second and third unsolicited
// announcements: RFC 6762 §8.3 asks for at least two, one second apart,
// the interval at least doubling.
var announceGaps = []time.Duration{time.Second, 2 * time.Second}

// Register starts answering for s on its interfaces.
func Register(s Service) (Registration, error) {
	if len(s.IPs) == 0 || len(s.Ifaces) == 0 {
		return nil, errors.New("mdns: nothing to advertise: no address or interface")
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ifaces := make([]net.Interface, 0, len(s.Ifaces))
	for _, idx := range s.Ifaces {
		ifc, err := net.InterfaceByIndex(idx)
		if err != nil {
			return nil, fmt.Errorf("mdns: interface %d: %w", idx, err)
		}
		ifaces = append(ifaces, *ifc)
	}
	z, err := newZone(s)
	if err != nil {
		return nil, err
	}
	socks, err := openSockets(ifaces, log)
	if err != nil {
		return nil, fmt.Errorf("mdns: register %q on port %d: %w", s.Instance, s.Port, err)
	}
	r := &responder{
		zone:  z,
		socks: socks,
		log:   log,
		done:  make(chan struct{}),
		sent:  map[sentKey]time.Time{},
	}
	r.ifaces = map[int]bool{}
	for _, ifc := range ifaces {
		r.ifaces[ifc.Index] = true
	}
	r.wg.Add(1 + socks.count())
	go r.announce()
	socks.each(func(c sock) { go r.receive(c) })
	return r, nil
}

// responder answers queries for one zone on its sockets.
type responder struct {
	zone   *zone
	socks  sockets
	ifaces map[int]bool
	log    *slog.Logger
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once

	// mu is held shared while a reply or announcement goes out and
	// exclusively by Shutdown, so that no positive TTL follows the goodbye.
	mu     sync.RWMutex
	closed bool

	sentMu sync.Mutex
	sent   map[sentKey]time.Time // last multicast of a record set per interface
}

// sentKey names a multicast answer for the one-second rule of RFC 6762 §6.
type sentKey struct {
	iface int
	v6    bool
	what  string
}

func (r *responder) Shutdown() {
	r.once.Do(func() {
		close(r.done)
		r.mu.Lock()
		r.closed = true
		bye := r.zone.announcement(0)
		r.socks.each(func(c sock) {
			for idx := range r.ifaces {
				if err := c.multicast(bye, idx); err != nil {
					r.log.Debug("mdns: goodbye not sent", "iface", idx, "err", err)
				}
			}
		})
		r.mu.Unlock()
		r.socks.close()
		r.wg.Wait()
	})
}

// announce sends the unsolicited announcements until they are done or the
// registration is shut down.
func (r *responder) announce() {
	defer r.wg.Done()
	for i := 0; ; i++ {
		r.mu.RLock()
		if !r.closed {
			msg := r.zone.announcement(ttlOther)
			r.socks.each(func(c sock) {
				for idx := range r.ifaces {
					if err := c.multicast(msg, idx); err != nil {
						r.log.Debug("mdns: announcement not sent", "iface", idx, "err", err)
					}
				}
			})
		}
		r.mu.RUnlock()
		if i == len(announceGaps) {
			return
		}
		t := time.NewTimer(announceGaps[i])
		select {
		case <-r.done:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// receive answers the queries arriving on c until c is closed.
func (r *responder) receive(c sock) {
	defer r.wg.Done()
	buf := make([]byte, 9000) // RFC 6762 §17: up to 9000 bytes
	for {
		n, ifIndex, from, err := c.read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-r.done:
				return
			default:
				continue // a bad datagram or a transient error: read on
			}
		}
		if !r.ifaces[ifIndex] {
			continue // another interface's traffic (the socket listens on all)
		}
		r.handle(c, buf[:n], ifIndex, from)
	}
}

func (r *responder) handle(c sock, packet []byte, ifIndex int, from *net.UDPAddr) {
	resp, unicast := r.zone.reply(packet, from.Port)
	if resp == nil {
		return
	}
	if !unicast && !r.allow(ifIndex, c.v6(), answerKey(resp)) {
		return
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return
	}
	var err error
	if unicast {
		err = c.unicast(resp, ifIndex, from)
	} else {
		err = c.multicast(resp, ifIndex)
	}
	if err != nil {
		r.log.Debug("mdns: reply not sent", "to", from.String(), "err", err)
	}
}

// allow applies RFC 6762 §6's rule that a record is multicast on an
// interface at most once a second: a burst of queries (or a flood) gets
// one answer, which every listener on the link hears anyway.
func (r *responder) allow(ifIndex int, v6 bool, what string) bool {
	k := sentKey{iface: ifIndex, v6: v6, what: what}
	now := time.Now()
	r.sentMu.Lock()
	defer r.sentMu.Unlock()
	if last, ok := r.sent[k]; ok && now.Sub(last) < time.Second {
		return false
	}
	r.sent[k] = now
	return true
}

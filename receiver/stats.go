package receiver

import (
	"maps"
	"sync"

	"github.com/speakerbox/speakerbox/receiver/spclient"
)

// What a reconnect is counted against (Stats.Reconnects).
const (
	// ReconnectAccessPoint: the access point connection was lost; the
	// chain of services is rebuilt on a new one.
	ReconnectAccessPoint = "access_point"
	// ReconnectDealer: the dealer connection dropped; it reconnects by
	// itself.
	ReconnectDealer = "dealer"
	// ReconnectChain: the dealer stayed lost (DealerLostAfter), and the
	// whole chain is rebuilt.
	ReconnectChain = "chain"
)

// Login failure reasons other than the access point's own refusal codes
// (Stats.LoginFailures).
const (
	// LoginFailedAccessPoint: the access point could not be reached or
	// the login broke off; it is retried with backoff.
	LoginFailedAccessPoint = "access_point_unreachable"
	// LoginFailedServices: logged in, but login5, spclient or the dealer
	// could not be set up; retried with backoff.
	LoginFailedServices = "services_unreachable"
)

// Stats is a snapshot of the device's counters, for metrics.
type Stats struct {
	// Reconnects by what was lost (Reconnect* constants).
	Reconnects map[string]uint64
	// LoginFailures by reason: the access point's error code for a login
	// it refused for good (BadCredentials, PremiumAccountRequired, ...),
	// or LoginFailed* for one that is retried.
	LoginFailures map[string]uint64
	// Publish counts the connect-state calls of every chain so far.
	Publish spclient.PublisherCounts
}

// deviceStats are the counters behind Stats. The loop writes them (rarely:
// on connection events); a scrape reads them from any goroutine.
type deviceStats struct {
	publish spclient.PublisherStats

	mu            sync.Mutex
	reconnects    map[string]uint64
	loginFailures map[string]uint64
}

func (s *deviceStats) reconnect(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reconnects == nil {
		s.reconnects = map[string]uint64{}
	}
	s.reconnects[what]++
}

func (s *deviceStats) loginFailed(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loginFailures == nil {
		s.loginFailures = map[string]uint64{}
	}
	s.loginFailures[reason]++
}

// Stats returns the device's counters; safe from any goroutine.
func (d *Device) Stats() Stats {
	s := &d.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Reconnects:    maps.Clone(s.reconnects),
		LoginFailures: maps.Clone(s.loginFailures),
		Publish:       s.publish.Counts(),
	}
}

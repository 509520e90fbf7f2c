package amp

import (
	"sync"
	"time"
)

// Stats is a snapshot of the relay's counters, for metrics.
type Stats struct {
	SwitchedOn  uint64        // times the amplifier was switched on
	SwitchedOff uint64        // times it was switched off
	OnTime      time.Duration // total time switched on, the current stretch included
	On          bool
}

// relayStats follows the switches that OnChange reports.
type relayStats struct {
	mu      sync.Mutex
	s       Stats
	onSince time.Time
}

func (s *relayStats) note(on bool, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on == s.s.On {
		return
	}
	s.s.On = on
	if on {
		s.s.SwitchedOn++
		s.onSince = now
		return
	}
	s.s.SwitchedOff++
	s.s.OnTime += now.Sub(s.onSince)
}

// Stats returns the counters; safe from any goroutine.
func (r *Relay) Stats() Stats {
	now := r.clock.Now()
	r.stats.mu.Lock()
	defer r.stats.mu.Unlock()
	st := r.stats.s
	if st.On {
		st.OnTime += now.Sub(r.stats.onSince)
	}
	return st
}

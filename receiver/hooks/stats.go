package hooks

import (
	"maps"
	"sync"
)

// Stats is a snapshot of the runner's counters, for metrics. The maps are
// keyed by the hook: "on_event", or the amplifier command's name.
type Stats struct {
	Runs     map[string]uint64 // hooks run (started or not)
	Failures map[string]uint64 // of which failed: could not start, exit status, timeout
	Dropped  uint64            // events dropped: queue full or shutting down
}

type runnerStats struct {
	mu       sync.Mutex
	runs     map[string]uint64
	failures map[string]uint64
}

func (s *runnerStats) note(what string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runs == nil {
		s.runs, s.failures = map[string]uint64{}, map[string]uint64{}
	}
	s.runs[what]++
	if err != nil {
		s.failures[what]++
	}
}

// Stats returns the counters; safe from any goroutine.
func (r *Runner) Stats() Stats {
	r.mu.Lock()
	dropped := r.dropped
	r.mu.Unlock()
	r.stats.mu.Lock()
	defer r.stats.mu.Unlock()
	return Stats{Runs: maps.Clone(r.stats.runs), Failures: maps.Clone(r.stats.failures), Dropped: uint64(dropped)}
}

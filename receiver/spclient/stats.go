package spclient

import "sync/atomic"

// PublisherStats counts what Publishers did, for metrics. One value may be
// shared by the publishers of successive chains (PublisherConfig.Stats), so
// the counts run on across reconnects. Safe for concurrent use.
type PublisherStats struct {
	published   atomic.Uint64
	failed      atomic.Uint64
	rateLimited atomic.Uint64
}

// PublisherCounts is a snapshot of PublisherStats.
type PublisherCounts struct {
	// Published counts the state PUTs and inactive calls Spotify accepted.
	Published uint64
	// Failed counts calls that failed for any reason but a 429 (each retry
	// is a call of its own).
	Failed uint64
	// RateLimited counts the 429s.
	RateLimited uint64
}

// Counts returns the counts so far; a nil *PublisherStats counts nothing.
func (s *PublisherStats) Counts() PublisherCounts {
	if s == nil {
		return PublisherCounts{}
	}
	return PublisherCounts{Published: s.published.Load(), Failed: s.failed.Load(), RateLimited: s.rateLimited.Load()}
}

// note counts the outcome of one call.
func (s *PublisherStats) note(err error, rateLimited bool) {
	switch {
	case s == nil:
	case err == nil:
		s.published.Add(1)
	case rateLimited:
		s.rateLimited.Add(1)
	default:
		s.failed.Add(1)
	}
}

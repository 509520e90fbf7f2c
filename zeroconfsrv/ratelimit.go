package zeroconfsrv

import (
	"sync"
	"time"
)

// maxTrackedSources bounds the limiter's memory under a flood of addresses.
const maxTrackedSources = 4096

// rateLimiter is a token bucket per source address: n attempts per window,
// refilled continuously.
type rateLimiter struct {
	n      float64
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(n int, window time.Duration, now func() time.Time) *rateLimiter {
	return &rateLimiter{n: float64(n), window: window, now: now, buckets: map[string]*bucket{}}
}

func (l *rateLimiter) refill(b *bucket, t time.Time) {
	if el := t.Sub(b.last); el > 0 {
		b.tokens = min(l.n, b.tokens+l.n*float64(el)/float64(l.window))
	}
	b.last = t
}

func (l *rateLimiter) allow(src string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	b, ok := l.buckets[src]
	if !ok {
		if len(l.buckets) >= maxTrackedSources {
			l.evictFull(t)
		}
		if len(l.buckets) >= maxTrackedSources {
			return false // a flood of sources: refuse rather than grow
		}
		b = &bucket{tokens: l.n, last: t}
		l.buckets[src] = b
	}
	l.refill(b, t)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// evictFull drops sources whose bucket has refilled: they carry no state.
func (l *rateLimiter) evictFull(t time.Time) {
	for k, b := range l.buckets {
		l.refill(b, t)
		if b.tokens >= l.n {
			delete(l.buckets, k)
		}
	}
}

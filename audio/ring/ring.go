// Package ring is a single-producer single-consumer ring buffer of audio
// samples between the decoder and the output. It is lock-free: each side
// owns one monotonically increasing index and publishes it atomically. A
// side that cannot proceed sleeps on a one-slot channel the other side
// signals after every publish, so neither spins and no wake-up is lost (the
// waiter re-checks the indices after every wake-up).
package ring

import (
	"errors"
	"sync/atomic"
	"time"
)

// ErrClosed is returned once the ring is closed.
var ErrClosed = errors.New("ring buffer closed")

// ErrInterrupted is returned when a blocked call was woken by its interrupt
// channel.
var ErrInterrupted = errors.New("ring buffer wait interrupted")

// Ring holds float32 samples. Indices count samples since creation and never
// wrap in practice (2^64 samples is millions of years of audio).
type Ring struct {
	buf  []float32
	mask uint64

	_ [64]byte // keep the producer's and the consumer's index on separate cache lines
	w atomic.Uint64
	_ [56]byte
	r atomic.Uint64
	_ [56]byte
	// flushTo is set by the producer; the consumer skips everything before
	// it. The producer cannot move the consumer's index itself.
	flushTo atomic.Uint64

	data   chan struct{} // producer -> consumer: something was published
	space  chan struct{} // consumer -> producer: space was freed
	done   chan struct{}
	closed atomic.Bool
}

// New makes a ring with room for at least capacity samples (rounded up to a
// power of two so that positions are masked, not divided).
func New(capacity int) *Ring {
	c := 1
	for c < capacity {
		c <<= 1
	}
	return &Ring{
		buf:   make([]float32, c),
		mask:  uint64(c - 1),
		data:  make(chan struct{}, 1),
		space: make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
}

// Samples is the ring capacity that holds d of audio.
func Samples(d time.Duration, rate, channels int) int {
	return int(d.Seconds()*float64(rate)+0.5) * channels
}

// Cap is the capacity in samples.
func (r *Ring) Cap() int { return len(r.buf) }

// Len is the number of samples waiting to be read (safe from any goroutine;
// for metrics).
func (r *Ring) Len() int {
	w := r.w.Load()
	rd := max(r.r.Load(), r.flushTo.Load())
	if rd > w {
		return 0
	}
	return int(w - rd)
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// WriteIndex is the index the next written sample gets (producer only).
func (r *Ring) WriteIndex() uint64 { return r.w.Load() }

// Write copies all of p into the ring, blocking while it is full. It returns
// early with ErrInterrupted when interrupt is signalled (n samples were
// written) or ErrClosed when the ring is closed.
func (r *Ring) Write(p []float32, interrupt <-chan struct{}) (int, error) {
	total := 0
	w := r.w.Load()
	for len(p) > 0 {
		if r.closed.Load() {
			return total, ErrClosed
		}
		free := len(r.buf) - int(w-r.r.Load())
		if free == 0 {
			select {
			case <-r.space:
			case <-interrupt:
				return total, ErrInterrupted
			case <-r.done:
				return total, ErrClosed
			}
			continue
		}
		n := min(free, len(p))
		i := int(w & r.mask)
		c := copy(r.buf[i:], p[:n])
		copy(r.buf, p[c:n])
		w += uint64(n)
		r.w.Store(w)
		signal(r.data)
		p = p[n:]
		total += n
	}
	return total, nil
}

// Flush makes everything written so far unreadable (producer only). The
// consumer skips it on its next Peek, so after Flush returns no stale
// sample is ever handed out.
func (r *Ring) Flush() {
	r.flushTo.Store(r.w.Load())
	signal(r.data)
}

// applyFlush moves the read index past flushed samples (consumer only).
func (r *Ring) applyFlush() uint64 {
	rd := r.r.Load()
	if f := r.flushTo.Load(); f > rd {
		rd = f
		r.r.Store(rd)
		signal(r.space)
	}
	return rd
}

// ReadIndex is the index of the next sample to be read, after any pending
// flush (consumer only).
func (r *Ring) ReadIndex() uint64 { return r.applyFlush() }

// Peek waits until at least min samples are readable, then copies up to
// len(p) of them into p without consuming them; start is the index of p[0].
// It returns ErrInterrupted when interrupt is signalled first and ErrClosed
// once the ring is closed. Consumer only.
func (r *Ring) Peek(p []float32, min int, interrupt <-chan struct{}) (n int, start uint64, err error) {
	if min < 1 {
		min = 1
	}
	for {
		rd := r.applyFlush()
		avail := int(r.w.Load() - rd)
		if avail >= min || (avail > 0 && avail >= len(p)) {
			n = avail
			if n > len(p) {
				n = len(p)
			}
			i := int(rd & r.mask)
			c := copy(p[:n], r.buf[i:])
			copy(p[c:n], r.buf)
			return n, rd, nil
		}
		if r.closed.Load() {
			return 0, rd, ErrClosed
		}
		select {
		case <-r.data:
		case <-interrupt:
			return 0, rd, ErrInterrupted
		case <-r.done:
		}
	}
}

// Advance consumes n samples (consumer only; n at most what Peek returned).
func (r *Ring) Advance(n int) {
	r.r.Add(uint64(n))
	signal(r.space)
}

// Close wakes both sides for good.
func (r *Ring) Close() {
	if r.closed.CompareAndSwap(false, true) {
		close(r.done)
	}
}

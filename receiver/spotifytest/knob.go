package spotifytest

import (
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Knob injects faults into the requests matching one host and path prefix.
// For each matching request, in this order: the delay (if set) holds it
// back; a pending drop closes the connection; a pending status answers it.
// Otherwise the request reaches the mounted handler. When several knobs
// match, they act in the order they were created, and the first that
// answers or drops ends the request.
//
// Note that Go's Transport silently retries an idempotent request (GET,
// HEAD) that was dropped on a reused connection, so one drop may be
// invisible to such a caller: a retry consumes the next drop or reaches
// the handler.
type Knob struct {
	host, prefix string
	done         <-chan struct{}

	mu         sync.Mutex
	status     int
	statusN    int // requests still to answer with status; <0 forever
	retryAfter string
	delay      time.Duration
	dropN      int
	hits       int
}

// SetStatus answers the next n matching requests with code (n<0: every
// request until Reset). The body is a short text naming the knob.
func (k *Knob) SetStatus(code, n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.status, k.statusN = code, n
}

// SetRetryAfter adds a Retry-After header with value v (seconds or an HTTP
// date, sent verbatim) to the answers SetStatus makes. "" removes it.
func (k *Knob) SetRetryAfter(v string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.retryAfter = v
}

// SetDelay holds every matching request back for d before anything else
// happens to it, until Reset or SetDelay(0). A request whose context ends
// first (the client gave up) is abandoned.
func (k *Knob) SetDelay(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.delay = d
}

// DropNext closes the connection of the next n matching requests without
// an answer (over HTTP/2 the stream is reset instead).
func (k *Knob) DropNext(n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dropN = n
}

// Reset clears status, Retry-After, delay and pending drops.
func (k *Knob) Reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.status, k.statusN, k.retryAfter, k.delay, k.dropN = 0, 0, "", 0, 0
}

// Hits counts the matching requests the knob answered or dropped.
func (k *Knob) Hits() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.hits
}

// intercept applies the knob to one request and reports whether it ended it.
func (k *Knob) intercept(w http.ResponseWriter, r *http.Request) bool {
	k.mu.Lock()
	delay := k.delay
	k.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		case <-k.done:
			t.Stop()
			return true
		}
	}

	k.mu.Lock()
	drop := k.dropN > 0
	if drop {
		k.dropN--
		k.hits++
	}
	var status int
	var retryAfter string
	if !drop && k.statusN != 0 && k.status != 0 {
		status, retryAfter = k.status, k.retryAfter
		if k.statusN > 0 {
			k.statusN--
		}
		k.hits++
	}
	k.mu.Unlock()

	if drop {
		knobDrop(w)
		return true
	}
	if status != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		http.Error(w, fmt.Sprintf("spotifytest: knob %s%s answers %d", k.host, k.prefix, status), status)
		return true
	}
	return false
}

// knobDrop ends a request without an answer: over HTTP/1 by closing the
// connection, over HTTP/2 (no hijacking there) by resetting the stream.
func knobDrop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

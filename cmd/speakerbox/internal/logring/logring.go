// Package logring keeps the last lines written to a log, for the owner's
// web page: an io.Writer to put beside stderr (io.MultiWriter), bounded in
// lines and line length, so it costs a fixed amount of memory however long
// the speaker runs. It holds what the log holds, which by the house rules
// has no secrets and only shortened usernames.
package logring

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// MaxLine is the longest line kept; a longer one is cut with "…".
const MaxLine = 1024

// Ring is the last lines written. Its methods are safe from any goroutine.
type Ring struct {
	mu      sync.Mutex
	lines   []string // circular, len == capacity once full
	next    int      // where the next line goes
	partial []byte   // a line not ended yet
}

// New keeps the last n lines (at least 1).
func New(n int) *Ring {
	return &Ring{lines: make([]string, 0, max(n, 1))}
}

// Write takes log output: lines end with '\n', and a write may hold
// several or part of one. It never fails.
func (r *Ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := indexByte(p, '\n')
		if i < 0 {
			if len(r.partial) < MaxLine+4 {
				r.partial = append(r.partial, p[:min(len(p), MaxLine+4-len(r.partial))]...)
			}
			break
		}
		line := p[:i]
		if len(r.partial) > 0 {
			line = append(r.partial, line[:min(len(line), max(0, MaxLine+4-len(r.partial)))]...)
			r.partial = r.partial[:0]
		}
		r.add(string(line))
		p = p[i+1:]
	}
	return n, nil
}

func indexByte(p []byte, c byte) int {
	for i, b := range p {
		if b == c {
			return i
		}
	}
	return -1
}

func (r *Ring) add(s string) {
	if len(s) > MaxLine {
		cut := MaxLine
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(r.lines) < cap(r.lines) {
		r.lines = append(r.lines, s)
		return
	}
	r.lines[r.next] = s
	r.next = (r.next + 1) % len(r.lines)
}

// Lines returns the lines kept, oldest first.
func (r *Ring) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.lines))
	out = append(out, r.lines[r.next:]...)
	return append(out, r.lines[:r.next]...)
}

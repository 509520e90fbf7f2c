package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// The speaker keeps no log file (it logs to standard error, and the image
// writes nothing to the card), and the service user cannot read its own
// journal. So a running speaker also keeps its newest log lines in memory,
// for the report the web page serves: reportLogLines lines of at most
// logRingLineMax bytes, about 400 KiB at worst, usually a tenth of it.
// `speakerbox doctor report`, a process of its own, reads the journal or
// logread instead (systemLogs).

const logRingLineMax = 2 << 10

// logRing is the newest lines written to it, oldest first; safe for
// concurrent use.
type logRing struct {
	mu    sync.Mutex
	lines []string
	next  int // where the next line goes once the ring is full
	full  bool
}

func newLogRing(n int) *logRing { return &logRing{lines: make([]string, n)} }

// Write takes one log record (slog's handlers write one per call).
func (r *logRing) Write(p []byte) (int, error) {
	s := strings.TrimRight(string(p), "\n")
	if len(s) > logRingLineMax {
		s = s[:logRingLineMax] + " …(cut)"
	}
	r.mu.Lock()
	r.lines[r.next] = s
	r.next++
	if r.next == len(r.lines) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
	return len(p), nil
}

// Lines is the report's log source: up to n of the newest lines.
func (r *logRing) Lines(_ context.Context, n int) ([]string, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	if r.full {
		out = append(out, r.lines[r.next:]...)
	}
	out = append(out, r.lines[:r.next]...)
	if len(out) == 0 {
		return nil, "", errors.New("nothing logged yet")
	}
	return out[max(0, len(out)-n):], "the speaker's memory (its newest lines since it started)", nil
}

// setLogger makes a's logger: stderr as newLogger lays it out, and the
// same records, with full times, into a.logs.
func (a *app) setLogger(stderr io.Writer, level slog.Level) {
	if a.logs == nil {
		a.logs = newLogRing(reportLogLines)
	}
	ring := slog.NewTextHandler(a.logs, &slog.HandlerOptions{Level: level})
	a.log = slog.New(teeHandler{newLogger(stderr, os.Getenv, level).Handler(), ring})
}

// teeHandler hands every record to two handlers.
type teeHandler struct{ a, b slog.Handler }

func (h teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.a.Enabled(ctx, l) || h.b.Enabled(ctx, l)
}

func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var errA, errB error
	if h.a.Enabled(ctx, r.Level) {
		errA = h.a.Handle(ctx, r.Clone())
	}
	if h.b.Enabled(ctx, r.Level) {
		errB = h.b.Handle(ctx, r)
	}
	return errors.Join(errA, errB)
}

func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{h.a.WithAttrs(as), h.b.WithAttrs(as)}
}

func (h teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{h.a.WithGroup(name), h.b.WithGroup(name)}
}

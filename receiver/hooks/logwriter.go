package hooks

import (
	"bytes"
	"log/slog"
	"sync"
)

// logWriter sends a hook's output to the log line by line, up to a limit
// per run so that a chatty or runaway hook cannot flood the log.
type logWriter struct {
	mu        sync.Mutex
	log       *slog.Logger
	buf       []byte
	left      int
	truncated bool
}

func newLogWriter(log *slog.Logger, limit int) *logWriter {
	return &logWriter{log: log, left: limit}
}

// maxLine is where an unterminated line is cut for the log.
const maxLine = 1024

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if w.left <= 0 {
		w.truncate()
		return n, nil
	}
	if len(p) > w.left {
		p = p[:w.left]
	}
	w.left -= len(p)
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	for len(w.buf) >= maxLine {
		w.emit(w.buf[:maxLine])
		w.buf = w.buf[maxLine:]
	}
	if w.left <= 0 {
		w.truncate()
	}
	return n, nil
}

// Flush logs a last line that had no newline.
func (w *logWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

func (w *logWriter) emit(line []byte) {
	line = bytes.TrimRight(line, "\r")
	if len(line) > 0 {
		w.log.Info("hook output", "line", string(line))
	}
}

func (w *logWriter) truncate() {
	if !w.truncated {
		w.truncated = true
		if len(w.buf) > 0 {
			w.emit(w.buf)
			w.buf = nil
		}
		w.log.Warn("hook output truncated: too much")
	}
}

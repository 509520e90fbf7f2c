package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLoggerLayout(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	var b bytes.Buffer
	// Under systemd the journal stamps each line: no time of our own.
	newLogger(&b, env(map[string]string{"JOURNAL_STREAM": "8:1234"}), slog.LevelInfo).Info("hello", "k", 1)
	if got := b.String(); strings.Contains(got, "time=") || !strings.Contains(got, "msg=hello k=1") {
		t.Errorf("journal line %q", got)
	}
	b.Reset()
	// Elsewhere (a file, a pipe) every line carries a full timestamp.
	l := newLogger(&b, env(nil), slog.LevelWarn)
	l.Info("dropped")
	l.Warn("kept")
	if got := b.String(); strings.Contains(got, "dropped") || !strings.Contains(got, "time=20") || !strings.Contains(got, "msg=kept") {
		t.Errorf("file line %q", got)
	}
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/speakerbox/speakerbox/internal/statedir"
)

// The ring keeps the newest lines, oldest first, each bounded.
func TestLogRingKeepsNewest(t *testing.T) {
	r := newLogRing(3)
	if _, _, err := r.Lines(context.Background(), 3); err == nil {
		t.Fatal("an empty ring has lines")
	}
	for i := range 5 {
		fmt.Fprintf(r, "line %d\n", i)
	}
	got, _, err := r.Lines(context.Background(), 10)
	if err != nil || strings.Join(got, "|") != "line 2|line 3|line 4" {
		t.Fatalf("Lines = %q, %v", got, err)
	}
	if got, _, _ := r.Lines(context.Background(), 2); strings.Join(got, "|") != "line 3|line 4" {
		t.Fatalf("Lines(2) = %q", got)
	}
	r.Write([]byte(strings.Repeat("x", 3*logRingLineMax)))
	got, _, _ = r.Lines(context.Background(), 1)
	if len(got[0]) > logRingLineMax+len(" …(cut)") {
		t.Fatalf("a long line kept whole: %d bytes", len(got[0]))
	}
}

// The speaker's logger writes to stderr and the ring alike, attributes
// and groups included, at the configured level; the running speaker's
// report carries those lines.
func TestSetLoggerTeesIntoRing(t *testing.T) {
	a := testApp(t, "--audio.output", "null")
	var stderr strings.Builder
	a.setLogger(&stderr, slog.LevelInfo)
	a.log.With("component", "zeroconf").WithGroup("g").Info("listening", "addr", "127.0.0.1:4070")
	a.log.Debug("not at info")
	lines, _, err := a.logs.Lines(context.Background(), reportLogLines)
	if err != nil || len(lines) != 1 {
		t.Fatalf("ring lines %q, %v", lines, err)
	}
	for _, out := range []string{lines[0], stderr.String()} {
		if !strings.Contains(out, "component=zeroconf") || !strings.Contains(out, "g.addr=127.0.0.1:4070") || strings.Contains(out, "not at info") {
			t.Errorf("log line %q", out)
		}
	}
	if !strings.Contains(lines[0], "time=") {
		t.Errorf("the ring's line has no time: %q", lines[0])
	}

	id, _, err := statedir.DeviceID(a.cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	zc, _ := startLoopbackZeroconf(t, id, a.cfg.StateDir)
	var b strings.Builder
	if err := speakerReport(a, zc, nil)(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"from the speaker's memory", "msg=listening", "reachable: TCP connect", "this speaker's device id",
		"configured: audio.output null", "device capabilities not probed"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the running speaker's report lacks %q:\n%s", want, b.String())
		}
	}
}

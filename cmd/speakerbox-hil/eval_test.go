package main

import (
	"strings"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/pl061"
)

var t0 = time.Unix(1795450000, 0)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func runWith(marks map[string]int, evs ...pl061.Event) *vmRun {
	r := &vmRun{marks: map[string]time.Time{}, trace: evs}
	for k, v := range marks {
		r.marks[k] = at(v)
	}
	return r
}

func ev(ms, line, level int) pl061.Event { return pl061.Event{T: at(ms), Line: line, Level: level} }

func goodRelayMarks() map[string]int {
	return map[string]int{
		"4-relay-play/player-start": 0, "4-relay-play/relay-claimed-low": 150,
		"4-relay-play/audio-start": 700, "4-relay-play/audio-end": 3200, "4-relay-play/player-exit": 4300,
	}
}

func TestRelayTimingPass(t *testing.T) {
	r := runWith(goodRelayMarks(), ev(-5000, relayLine, 0), ev(200, relayLine, 1), ev(4250, relayLine, 0))
	pass, detail := evalRelayTiming(r)
	if !pass {
		t.Fatal(detail)
	}
	if !strings.Contains(detail, "high 500ms before the first sound") || !strings.Contains(detail, "low 1050ms after the last sound") {
		t.Fatalf("detail %q", detail)
	}
}

func TestRelayTimingFailures(t *testing.T) {
	for name, tc := range map[string]struct {
		marks map[string]int
		evs   []pl061.Event
		want  string
	}{
		"warm-up too short":      {goodRelayMarks(), []pl061.Event{ev(500, relayLine, 1), ev(4250, relayLine, 0)}, "first sound only 200ms"},
		"never on":               {goodRelayMarks(), []pl061.Event{ev(-5000, relayLine, 0)}, "never went high"},
		"never off":              {goodRelayMarks(), []pl061.Event{ev(200, relayLine, 1)}, "never dropped"},
		"off too early":          {goodRelayMarks(), []pl061.Event{ev(200, relayLine, 1), ev(3300, relayLine, 0)}, "dropped 100ms after"},
		"on again":               {goodRelayMarks(), []pl061.Event{ev(200, relayLine, 1), ev(4250, relayLine, 0), ev(4300, relayLine, 1)}, "went high again"},
		"never off in this step": {goodRelayMarks(), []pl061.Event{ev(200, relayLine, 1), ev(5000, relayLine, 0)}, "never dropped"},
		"high at start":          {goodRelayMarks(), []pl061.Event{ev(-100, relayLine, 1), ev(200, relayLine, 1), ev(4250, relayLine, 0)}, "high when the player started"},
		"not claimed low": {func() map[string]int {
			m := goodRelayMarks()
			delete(m, "4-relay-play/relay-claimed-low")
			return m
		}(), []pl061.Event{ev(200, relayLine, 1), ev(4250, relayLine, 0)}, "did not drive the line low"},
		"other line only": {goodRelayMarks(), []pl061.Event{ev(200, relayLine+1, 1)}, "never went high"},
	} {
		pass, detail := evalRelayTiming(runWith(tc.marks, tc.evs...))
		if pass || !strings.Contains(detail, tc.want) {
			t.Errorf("%s: pass %v, detail %q; want failure with %q", name, pass, detail, tc.want)
		}
	}
}

func TestSignalLevel(t *testing.T) {
	marks := map[string]int{"x/sigkill": 1000, "x/player-exit": 1010}
	// Killed while on, and the line keeps its level: a measurement, not a failure.
	pass, detail := evalSignalLevel("x", "sigkill", false)(runWith(marks, ev(500, relayLine, 1)))
	if !pass || !strings.Contains(detail, "stays HIGH") {
		t.Fatalf("sigkill: %v %q", pass, detail)
	}
	// SIGTERM must leave it low.
	marks = map[string]int{"x/sigterm": 1000, "x/player-exit": 1200}
	if pass, detail := evalSignalLevel("x", "sigterm", true)(runWith(marks, ev(500, relayLine, 1))); pass {
		t.Fatalf("line left high after SIGTERM passed: %q", detail)
	}
	if pass, detail := evalSignalLevel("x", "sigterm", true)(runWith(marks, ev(500, relayLine, 1), ev(1100, relayLine, 0))); !pass {
		t.Fatalf("line low after SIGTERM failed: %q", detail)
	}
	// The next step switching the line on again is not this step's business.
	if pass, detail := evalSignalLevel("x", "sigterm", true)(runWith(marks, ev(500, relayLine, 1), ev(1100, relayLine, 0), ev(2500, relayLine, 1))); !pass {
		t.Fatalf("a later step's event counted: %q", detail)
	}
	// A fast exit can beat the mark over the console by a few ms.
	if pass, detail := evalSignalLevel("x", "sigterm", true)(runWith(marks, ev(500, relayLine, 1), ev(990, relayLine, 0))); !pass {
		t.Fatalf("switch-off 10ms before the mark failed: %q", detail)
	}
	// Signalled while the relay was off measures nothing.
	if pass, _ := evalSignalLevel("x", "sigterm", true)(runWith(marks)); pass {
		t.Fatal("signal with the relay off passed")
	}
}

func TestSelfTrace(t *testing.T) {
	marks := map[string]int{"0-self-gpio/set-lo-1": 0, "0-self-gpio/set-hi": 150, "0-self-gpio/set-lo-2": 400}
	if pass, d := evalSelfTrace(runWith(marks, ev(152, selfLine, 1), ev(401, selfLine, 0))); !pass {
		t.Fatal(d)
	}
	if pass, d := evalSelfTrace(runWith(marks, ev(452, selfLine, 1), ev(601, selfLine, 0))); pass {
		t.Fatalf("300ms skew passed: %s", d)
	}
}

package receiver

import (
	"encoding/json"
	"testing"
	"time"
)

func TestSessionStateWords(t *testing.T) {
	want := map[SessionState]string{SessionOffline: "offline", SessionWaiting: "waiting", SessionLoggingIn: "logging_in",
		SessionConnected: "connected", SessionPlaying: "playing", SessionPaused: "paused", SessionState(99): "SessionState(99)"}
	for s, w := range want {
		if s.String() != w {
			t.Errorf("%d: %q, want %q", int(s), s.String(), w)
		}
	}
	b, err := json.Marshal(struct{ State SessionState }{SessionLoggingIn})
	if err != nil || string(b) != `{"State":"logging_in"}` {
		t.Fatalf("JSON %s, %v", b, err)
	}
}

// A new position anchor that only follows the clock is no news; a jump,
// or any other change, is.
func TestSameStatus(t *testing.T) {
	t0 := time.UnixMilli(1_800_000_000_000)
	playing := Status{State: SessionPlaying, TrackURI: "spotify:track:x", PositionMs: 10_000, PositionAt: t0, DurationMs: 60_000, Volume: 5}
	at := func(s Status, pos int64, after time.Duration) Status {
		s.PositionMs, s.PositionAt = pos, t0.Add(after)
		return s
	}
	paused := playing
	paused.State, paused.Paused = SessionPaused, true
	buffering := playing
	buffering.Buffering = true
	vol := playing
	vol.Volume = 6
	cases := []struct {
		name string
		a, b Status
		same bool
	}{
		{"identical", playing, playing, true},
		{"playing, on time", playing, at(playing, 15_000, 5*time.Second), true},
		{"playing, within the slack", playing, at(playing, 15_900, 5*time.Second), true},
		{"playing, jumped ahead", playing, at(playing, 16_100, 5*time.Second), false},
		{"playing, jumped back", playing, at(playing, 13_000, 5*time.Second), false},
		{"playing past the end stays at the end", at(playing, 59_000, 0), at(playing, 60_000, 5*time.Second), true},
		{"paused, same position later", paused, at(paused, 10_000, 5*time.Second), true},
		{"paused, moved", paused, at(paused, 10_001, 5*time.Second), false},
		{"buffering does not move", buffering, at(buffering, 15_000, 5*time.Second), false},
		{"volume", playing, vol, false},
		{"paused", playing, paused, false},
		{"track gone", playing, Status{State: SessionConnected, Volume: 5}, false},
	}
	for _, c := range cases {
		if got := sameStatus(c.a, c.b); got != c.same {
			t.Errorf("%s: sameStatus %v, want %v", c.name, got, c.same)
		}
	}
}

// set announces each real change exactly once, on the channel handed out
// before it, and never blocks however many watchers there are or none.
func TestStatusCellAnnounces(t *testing.T) {
	var c statusCell
	c.set(Status{Volume: 1})
	first := c.p.Load().changed
	c.set(Status{Volume: 1}) // nothing new
	select {
	case <-first:
		t.Fatal("announced an unchanged status")
	default:
	}
	c.set(Status{Volume: 2})
	c.set(Status{Volume: 3}) // nobody took the second channel: no wait
	select {
	case <-first:
	default:
		t.Fatal("a change was not announced")
	}
	if got := c.p.Load().st.Volume; got != 3 {
		t.Fatalf("latest volume %d", got)
	}
	select {
	case <-c.p.Load().changed:
		t.Fatal("the current status's channel is closed")
	default:
	}
}

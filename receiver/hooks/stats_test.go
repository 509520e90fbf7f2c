package hooks

import (
	"context"
	"maps"
	"testing"
)

// Every hook run is counted by hook, and the failures among them: an exit
// status, a shell that cannot start.
func TestRunnerStats(t *testing.T) {
	r, _ := newRunner(t, Config{OnEvent: `[ "$PLAYER_EVENT" != stopped ] || exit 3`})
	r.Emit(TrackEvent(Stopped, "t"))
	r.Emit(Amp(false))
	// Run waits for its turn: the two above have run when it returns.
	if err := r.Run(context.Background(), TrackEvent(Stopped, "t")); err == nil {
		t.Fatal("failing hook ran without error")
	}
	if err := r.Command(context.Background(), "amp_on_command", "true", Amp(true)); err != nil {
		t.Fatal(err)
	}
	if err := r.Command(context.Background(), "amp_off_command", "exit 1", Amp(false)); err == nil {
		t.Fatal("failing amp command ran without error")
	}
	st := r.Stats()
	wantRuns := map[string]uint64{"on_event": 3, "amp_on_command": 1, "amp_off_command": 1}
	wantFails := map[string]uint64{"on_event": 2, "amp_off_command": 1}
	if !maps.Equal(st.Runs, wantRuns) || !maps.Equal(st.Failures, wantFails) || st.Dropped != 0 {
		t.Fatalf("stats %+v, want runs %v failures %v", st, wantRuns, wantFails)
	}

	missing, _ := newRunner(t, Config{OnEvent: "true", Shell: "/nonexistent/sh"})
	_ = missing.Run(context.Background(), Amp(true))
	if st := missing.Stats(); st.Runs["on_event"] != 1 || st.Failures["on_event"] != 1 {
		t.Fatalf("a shell that cannot start: %+v", st)
	}
}

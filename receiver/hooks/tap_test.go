package hooks

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Tap sees every event handed in, in order, whether or not a command runs
// for it, and the command still gets them all.
func TestTapSeesEveryEvent(t *testing.T) {
	for _, withCommand := range []bool{false, true} {
		var mu sync.Mutex
		var tapped []string
		out := filepath.Join(t.TempDir(), "events")
		cfg := Config{Tap: func(ev Event) {
			mu.Lock()
			tapped = append(tapped, ev.Name)
			mu.Unlock()
		}}
		if withCommand {
			cfg.OnEvent = `echo "$PLAYER_EVENT" >> ` + out
		}
		r, _ := newRunner(t, cfg)
		ctx := context.Background()
		r.Emit(Amp(true))
		if err := r.Run(ctx, SinkEvent(SinkRunning)); err != nil {
			t.Fatal(err)
		}
		r.Emit(Volume(3))
		wait := r.Queue(ctx, SinkEvent(SinkClosed))
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		want := []string{AmpOn, Sink, VolumeChanged, Sink}
		mu.Lock()
		got := slices.Clone(tapped)
		mu.Unlock()
		if !slices.Equal(got, want) {
			t.Errorf("command %v: tapped %v, want %v", withCommand, got, want)
		}
		if withCommand {
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if ran := readLines(t, out); !slices.Equal(ran, want) {
				t.Errorf("the command ran for %v, want %v", ran, want)
			}
		}
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

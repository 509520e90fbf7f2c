package playback

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speakerbox/speakerbox/receiver/hooks"
)

// The commands run synchronously, with the event's environment; a failing
// command does not fail the switch; an empty one runs nothing.
func TestAmpCommands(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	runner, err := hooks.New(hooks.Config{BaseEnv: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	defer runner.Close(context.Background())
	ctx := context.Background()

	sw := AmpCommands(runner, fmt.Sprintf(`echo "on:$PLAYER_EVENT" >> %q`, log), fmt.Sprintf(`echo "off:$PLAYER_EVENT" >> %q; exit 3`, log))
	for _, on := range []bool{true, false} {
		if err := sw.Set(ctx, on); err != nil {
			t.Fatalf("Set(%v) = %v", on, err)
		}
	}
	b, _ := os.ReadFile(log)
	if got := strings.Fields(string(b)); strings.Join(got, " ") != "on:amp_on off:amp_off" {
		t.Errorf("commands ran %q", got)
	}

	os.Remove(log)
	onOnly := AmpCommands(runner, fmt.Sprintf(`echo on >> %q`, log), "")
	if err := onOnly.Set(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(log); err == nil {
		t.Error("an empty off command ran something")
	}
}

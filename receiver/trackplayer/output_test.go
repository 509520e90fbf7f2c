package trackplayer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speakerbox/speakerbox/receiver/connect"
	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/receiver/playback"
)

// Wired as the receiver wires it, behind playback.Output: the hooks get
// loading, then track_changed with the metadata, playing, end_of_track,
// and unavailable for a track that cannot be played, in that order.
func TestHooksThroughOutput(t *testing.T) {
	a := newSong(t, 1, 0)
	file := filepath.Join(t.TempDir(), "events")
	runner, err := hooks.New(hooks.Config{
		OnEvent: fmt.Sprintf(`[ "$PLAYER_EVENT" = sink ] || printf '%%s|%%s|%%s|%%s|%%s|%%s|%%s|%%s\n' "$PLAYER_EVENT" "$TRACK_ID" "$NAME" "$ALBUM" "$URI" "$NUMBER" "$COVERS" "$DURATION_MS" >> %q`, file),
		BaseEnv: []string{"PATH=/usr/bin:/bin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := playback.NewOutput(context.Background(), playback.OutputConfig{Hooks: runner})
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, func(r *rig, c *Config) {
		c.Hooks = runner
		c.Audio.Gate = out
		c.Audio.Observe = out.Observe
	})
	out.Attach(r.p)
	out.Describe(r.p.Describe)
	r.add(a)
	r.up()
	missing := uri(5)
	r.p.Load("pb0", missing, 0, false)
	r.expect(connect.TrackUnavailable{PlaybackID: "pb0", Reason: "not found"})
	r.p.Load("pb1", a.uri, 0, false)
	r.expect(started("pb1", 0, a), ended("pb1"))
	if err := out.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dur := fmt.Sprint(a.durMs)
	line := func(f ...string) string { return strings.Join(append(f, make([]string, 8-len(f))...), "|") }
	want := []string{
		line("loading", base62(missing)),
		line("unavailable", base62(missing)),
		line("loading", id(a)),
		line("track_changed", id(a), "Song 0001", "Album", a.uri, "1", "https://i.test/cover", dur),
		line("playing", id(a), "", "", "", "", "", dur),
		line("end_of_track", id(a)),
		line("stopped", id(a)),
	}
	got := strings.Split(strings.TrimSpace(string(data)), "\n")
	if !slices.Equal(got, want) {
		t.Fatalf("hooks\n got %q\nwant %q", got, want)
	}
}

package playback

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/player"
	"github.com/speakerbox/speakerbox/gpio/amp"
	"github.com/speakerbox/speakerbox/gpio/fakeclock"
	"github.com/speakerbox/speakerbox/receiver/hooks"
)

var _ audio.Gate = (*Output)(nil)

// journalSink is a clockless sink that notes opening and closing in the
// journal.
type journalSink struct{ j *journal }

func (s journalSink) Open(want audio.Format) (audio.Format, error) {
	s.j.add("sink-open")
	return want, nil
}
func (s journalSink) Write(p []byte) (int, error) { return len(p), nil }
func (s journalSink) Pause() error                { return nil }
func (s journalSink) Resume() error               { return nil }
func (s journalSink) Drain() error                { return nil }
func (s journalSink) Delay() time.Duration        { return 0 }
func (s journalSink) Close() error {
	s.j.add("sink-close")
	return nil
}

// The real player with Output as its gate: the relay is on and warmed up
// and "running" has run before the sink opens; at the end of the queue the
// idle timeout has the player close its sink (asynchronously), "closed"
// runs, and only then the relay drops.
func TestOutputWithPlayer(t *testing.T) {
	ogg, err := os.ReadFile("../../audio/decode/testdata/tiny.ogg")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	j := &journal{t: t, path: filepath.Join(dir, "journal")}
	events := filepath.Join(dir, "events")
	clock := fakeclock.New(time.Time{})
	runner, err := hooks.New(hooks.Config{
		OnEvent: fmt.Sprintf(`if [ "$PLAYER_EVENT" = sink ]; then echo "hook:$SINK_STATUS" >> %q; else echo "$PLAYER_EVENT" >> %q; fi`, j.path, events),
		BaseEnv: []string{"PATH=/usr/bin:/bin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := NewOutput(context.Background(), OutputConfig{
		Relay: &amp.Config{
			Power:       amp.PinSwitch{Pin: journalPin{&gpiotest.Pin{N: "relay"}, j}},
			Warmup:      warmup,
			IdleTimeout: idle,
			Clock:       clock,
		},
		Hooks:     runner,
		CloseWait: time.Minute, // the test fails on a timeout rather than on this
	})
	if err != nil {
		t.Fatal(err)
	}
	never := make(chan time.Time)
	p, err := player.NewPlayer(player.Config{
		NewSink:        func() (audio.Sink, error) { return journalSink{j}, nil },
		Gate:           out,
		Observe:        out.Observe,
		KeepOutputOpen: true,
		Tick:           func(time.Duration) (<-chan time.Time, func()) { return never, func() {} },
	})
	if err != nil {
		t.Fatal(err)
	}
	out.Attach(p)
	seen := make(chan player.Event, 100)
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		for ev := range p.Events() {
			seen <- ev
		}
	}()
	waitEvent := func(typ player.EventType) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case ev := <-seen:
				if ev.Type == typ {
					return
				}
			case <-timeout:
				t.Fatalf("no %s event", typ)
			}
		}
	}

	p.Load(player.Track{ID: "tiny", Source: bytes.NewReader(ogg), Size: int64(len(ogg))}, true, 0)
	clock.WaitForTimers(1) // the warm-up: nothing opens before it ends
	if got := j.take(); !slices.Equal(got, []string{"power=Low", "power=High"}) {
		t.Fatalf("before the warm-up ended: %q", got)
	}
	clock.Advance(warmup)
	waitEvent(player.EndOfQueue)
	if got, want := j.take(), []string{"hook:running", "sink-open"}; !slices.Equal(got, want) {
		t.Fatalf("playing: got %q, want %q", got, want)
	}
	// Queue ended: the device stays open on silence until the timeout.
	clock.Advance(idle)
	if got, want := j.take(), []string{"sink-close", "hook:closed", "power=Low"}; !slices.Equal(got, want) {
		t.Fatalf("idle timeout: got %q, want %q", got, want)
	}

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	<-pumped
	if err := out.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(events)
	got := strings.Fields(string(data))
	want := []string{"amp_on", "track_changed", "playing", "end_of_track", "stopped", "amp_off"}
	if !slices.Equal(got, want) {
		t.Fatalf("event hooks %q, want %q", got, want)
	}
}

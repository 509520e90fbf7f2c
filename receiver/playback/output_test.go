package playback

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/player"
	"github.com/speakerbox/speakerbox/gpio/amp"
	"github.com/speakerbox/speakerbox/gpio/fakeclock"
	"github.com/speakerbox/speakerbox/receiver/hooks"
)

const (
	warmup = 500 * time.Millisecond
	idle   = time.Minute
)

// journal is a file that the test, the fake pin and the sink hooks (child
// processes) all append to, so the order across them is visible.
type journal struct {
	t    *testing.T
	path string
	mu   sync.Mutex
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := os.OpenFile(j.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		j.t.Error(err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, format+"\n", args...)
}

// take returns the entries so far and empties the journal.
func (j *journal) take() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	data, _ := os.ReadFile(j.path)
	_ = os.Remove(j.path)
	return strings.Fields(string(data))
}

type journalPin struct {
	*gpiotest.Pin
	j *journal
}

func (p journalPin) Out(l gpio.Level) error {
	p.j.add("power=%s", l)
	return p.Pin.Out(l)
}

// fakePlayer uses its gate the way audio.Player does: BeforeOpen before the
// device opens, AfterClose after it closed.
type fakePlayer struct {
	gate audio.Gate
	j    *journal
	mu   sync.Mutex
	open bool
}

func (p *fakePlayer) play(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.open {
		if err := p.gate.BeforeOpen(ctx); err != nil {
			return err
		}
		p.open = true
		p.j.add("device-open")
	}
	p.j.add("sound")
	return nil
}

// closeDevice is the player closing on its own (rate change, pause without
// keep_output_open).
func (p *fakePlayer) closeDevice() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open {
		p.open = false
		p.j.add("device-closed")
		p.gate.AfterClose()
	}
}

func (p *fakePlayer) CloseOutput() { p.closeDevice() }

type outputRig struct {
	t      *testing.T
	j      *journal
	events string // file the asynchronous hooks append to
	clock  *fakeclock.Clock
	out    *Output
	player *fakePlayer
}

func newOutputRig(t *testing.T) *outputRig {
	dir := t.TempDir()
	r := &outputRig{t: t, j: &journal{t: t, path: filepath.Join(dir, "journal")}, events: filepath.Join(dir, "events"),
		clock: fakeclock.New(time.Time{})}
	runner, err := hooks.New(hooks.Config{
		OnEvent: fmt.Sprintf(`if [ "$PLAYER_EVENT" = sink ]; then echo "hook:$SINK_STATUS" >> %q; else echo "$PLAYER_EVENT" >> %q; fi`, r.j.path, r.events),
		BaseEnv: []string{"PATH=/usr/bin:/bin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.out, err = NewOutput(context.Background(), OutputConfig{
		Relay: &amp.Config{
			Power:       amp.PinSwitch{Pin: journalPin{&gpiotest.Pin{N: "relay", L: gpio.High}, r.j}},
			Warmup:      warmup,
			IdleTimeout: idle,
			Clock:       r.clock,
		},
		Hooks: runner,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.player = &fakePlayer{gate: r.out, j: r.j}
	r.out.Attach(r.player)
	return r
}

// play runs the player's play in a goroutine, advances through the
// warm-up if one starts, and waits for it.
func (r *outputRig) play(wantWarmup bool) {
	r.t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.player.play(context.Background()) }()
	if wantWarmup {
		r.clock.WaitForTimers(1)
		r.clock.Advance(warmup)
	}
	if err := <-done; err != nil {
		r.t.Fatal(err)
	}
}

func (r *outputRig) want(what string, want ...string) {
	r.t.Helper()
	if got := r.j.take(); !slices.Equal(got, want) {
		r.t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestOutputSequence(t *testing.T) {
	r := newOutputRig(t)
	r.want("at start", "power=Low")

	// Play: relay on, warm-up, "running" hook finished, then the device.
	r.play(true)
	r.want("first play", "power=High", "hook:running", "device-open", "sound")

	// Pause; resume within the idle timeout on the device kept open.
	r.out.Paused("t1", time.Second, time.Minute)
	r.clock.Advance(idle / 2)
	r.out.Playing("t1", time.Second, time.Minute)
	r.clock.Advance(idle)
	r.play(false)
	r.want("resume within the timeout", "sound")

	// The player closes between tracks and reopens: temporarily_closed,
	// then running again, and the relay does not move.
	r.player.closeDevice()
	r.play(false)
	if n := r.clock.Pending(); n != 0 {
		t.Fatalf("%d timers after reopening between tracks", n)
	}
	r.want("between tracks", "device-closed", "hook:temporarily_closed", "hook:running", "device-open", "sound")

	// Pause, timeout: the output is closed and reported before the power
	// drops.
	r.out.Paused("t1", 2*time.Second, time.Minute)
	r.clock.Advance(idle)
	r.want("idle timeout", "device-closed", "hook:closed", "power=Low")

	// Play again: a new warm-up.
	r.play(true)
	r.want("play after timeout", "power=High", "hook:running", "device-open", "sound")

	// Paused without keep_output_open: the player closed the device itself;
	// at the timeout the status becomes closed, then the power drops.
	r.out.Paused("t2", 0, time.Minute)
	r.player.closeDevice()
	r.clock.Advance(idle)
	r.want("timeout after a temporary close", "device-closed", "hook:temporarily_closed", "hook:closed", "power=Low")

	// Shutdown while playing.
	r.play(true)
	r.j.take()
	if err := r.out.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.want("shutdown", "device-closed", "hook:closed", "power=Low")

	// The asynchronous hooks ran in the order of the events.
	data, _ := os.ReadFile(r.events)
	want := []string{"amp_on", "paused", "playing", "paused", "amp_off", "amp_on", "paused", "amp_off", "amp_on", "amp_off"}
	if got := strings.Fields(string(data)); !slices.Equal(got, want) {
		t.Fatalf("event hooks\n got %q\nwant %q", got, want)
	}
}

func TestOutputSessionEndStartsIdle(t *testing.T) {
	r := newOutputRig(t)
	r.j.take()
	r.play(true)
	r.j.take()
	r.out.Session(false, "conn", "alice")
	r.clock.Advance(idle)
	r.want("session end", "device-closed", "hook:closed", "power=Low")
}

func TestOutputWithoutRelay(t *testing.T) {
	o, err := NewOutput(context.Background(), OutputConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.BeforeOpen(context.Background()); err != nil {
		t.Fatal(err)
	}
	o.Paused("t", 0, 0)
	o.AfterClose()
	o.ForceOff()
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOutputRelayFailureRefusesToOpen(t *testing.T) {
	o, err := NewOutput(context.Background(), OutputConfig{Relay: &amp.Config{
		Power: amp.SwitchFunc(func(_ context.Context, on bool) error {
			if on {
				return fmt.Errorf("line busy")
			}
			return nil
		}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.BeforeOpen(context.Background()); err == nil || !strings.Contains(err.Error(), "line busy") {
		t.Fatalf("BeforeOpen = %v", err)
	}
}

func TestOutputForceOff(t *testing.T) {
	r := newOutputRig(t)
	r.play(true)
	r.j.take()
	r.out.ForceOff()
	// No call into the player: a panicking program must not.
	r.want("force off", "power=Low")
}

// track_changed carries what Describe knows of the track (the receiver's
// track player), and only the id and duration of a track it does not know.
func TestOutputTrackChangedDescribed(t *testing.T) {
	events := filepath.Join(t.TempDir(), "events")
	runner, err := hooks.New(hooks.Config{
		OnEvent: fmt.Sprintf(`[ "$PLAYER_EVENT" = track_changed ] && printf '%%s|%%s|%%s|%%s|%%s|%%s|%%s\n' "$TRACK_ID" "$OLD_TRACK_ID" "$NAME" "$ARTISTS" "$ALBUM" "$URI" "$DURATION_MS" | tr '\n' '~' >> %q; true`, events),
		BaseEnv: []string{"PATH=/usr/bin:/bin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOutput(context.Background(), OutputConfig{Hooks: runner})
	if err != nil {
		t.Fatal(err)
	}
	o.Describe(func(id string) (hooks.Track, bool) {
		if id != "known" {
			return hooks.Track{}, false
		}
		return hooks.Track{URI: "spotify:track:known", Name: "Song", Artists: []string{"A", "B"}, Album: "LP",
			Duration: time.Minute}, true
	})
	o.Observe(player.Event{Type: player.TrackStarted, TrackID: "known", DurationMs: 61000})
	o.Observe(player.Event{Type: player.TrackStarted, TrackID: "other", DurationMs: 5000})
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	// printf's newline and the one joining ARTISTS both became '~'.
	want := "known||Song|A~B|LP|spotify:track:known|61000~other|known|||||5000~"
	if string(data) != want {
		t.Fatalf("track_changed hooks\n got %q\nwant %q", data, want)
	}
}

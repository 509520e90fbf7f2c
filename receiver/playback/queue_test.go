package playback

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/speakerbox/speakerbox/audio/player"
)

// scriptPlayer replays a fixed list of events and records what the queue
// asked of it. The events are all in the channel before Run starts, so the
// order the queue sees is the script's.
type scriptPlayer struct {
	events chan player.Event
	calls  []string
}

func newScriptPlayer(events ...player.Event) *scriptPlayer {
	p := &scriptPlayer{events: make(chan player.Event, len(events))}
	for _, e := range events {
		p.events <- e
	}
	return p
}

func (p *scriptPlayer) Load(t player.Track, play bool, pos int64) {
	p.calls = append(p.calls, "load "+t.ID)
}
func (p *scriptPlayer) Enqueue(t player.Track)      { p.calls = append(p.calls, "enqueue "+t.ID) }
func (p *scriptPlayer) Events() <-chan player.Event { return p.events }

func ev(typ player.EventType, id string) player.Event { return player.Event{Type: typ, TrackID: id} }

func tracks(ids ...string) []player.Track {
	out := make([]player.Track, len(ids))
	for i, id := range ids {
		out[i] = player.Track{ID: id}
	}
	return out
}

func TestQueueEnqueuesOnDecodingAndCounts(t *testing.T) {
	p := newScriptPlayer(
		ev(player.TrackDecoding, "a"),
		ev(player.SinkOpened, ""), // device events may come before or after track events
		ev(player.TrackStarted, "a"),
		ev(player.TrackDecoding, "b"),
		ev(player.TrackDecoding, "b"), // a repeated report enqueues nothing twice
		ev(player.TrackEnded, "a"),
		ev(player.TrackError, "b"), // b fails: c is enqueued, b counts as done
		ev(player.TrackDecoding, "c"),
		ev(player.TrackEnded, "c"),
		ev(player.EndOfQueue, "c"),
	)
	q, err := NewQueue(p, tracks("a", "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	var seen []int
	if err := q.Run(context.Background(), func(i int, e player.Event) { seen = append(seen, i) }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"load a", "enqueue b", "enqueue c"}; !slices.Equal(p.calls, want) {
		t.Errorf("calls %q, want %q", p.calls, want)
	}
	if got := q.Failed(); !slices.Equal(got, []int{1}) {
		t.Errorf("failed %v, want [1]", got)
	}
	// Run returns once c ended: EndOfQueue is left unread.
	if want := []int{0, -1, 0, 1, 1, 0, 1, 2, 2}; !slices.Equal(seen, want) {
		t.Errorf("observed indexes %v, want %v", seen, want)
	}
}

func TestQueueFailedFirstTrackGoesOn(t *testing.T) {
	// A file that cannot be opened never decodes: its error alone must
	// enqueue the next.
	p := newScriptPlayer(ev(player.TrackError, "a"), ev(player.TrackDecoding, "b"), ev(player.TrackEnded, "b"))
	q, _ := NewQueue(p, tracks("a", "b"))
	if err := q.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if want := []string{"load a", "enqueue b"}; !slices.Equal(p.calls, want) {
		t.Errorf("calls %q, want %q", p.calls, want)
	}
}

func TestQueueOutputErrorAndCancel(t *testing.T) {
	boom := errors.New("no sound card")
	p := newScriptPlayer(ev(player.TrackDecoding, "a"), player.Event{Type: player.OutputError, Err: boom})
	q, _ := NewQueue(p, tracks("a"))
	if err := q.Run(context.Background(), nil); !errors.Is(err, boom) {
		t.Errorf("Run = %v, want the output error", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q, _ = NewQueue(newScriptPlayer(), tracks("a"))
	if err := q.Run(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v", err)
	}
}

func TestNewQueueRefuses(t *testing.T) {
	if _, err := NewQueue(newScriptPlayer(), nil); err == nil {
		t.Error("empty queue accepted")
	}
	if _, err := NewQueue(newScriptPlayer(), tracks("a", "a")); err == nil {
		t.Error("duplicate IDs accepted")
	}
}

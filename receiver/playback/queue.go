package playback

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/speakerbox/speakerbox/audio/player"
)

// Player is the part of *player.Player that Queue drives.
type Player interface {
	Load(t player.Track, play bool, positionMs int64)
	Enqueue(next player.Track)
	Events() <-chan player.Event
}

// Queue plays a fixed list of tracks back to back, gaplessly: it loads the
// first, hands the player the next one as soon as the decoder starts on a
// track (TrackDecoding), and counts the tracks that ended or failed. It
// relies on no order between track and device events: a track counts as
// done when it ended or failed, whatever came before.
type Queue struct {
	p      Player
	tracks []player.Track
	index  map[string]int

	enqueued int // the highest index handed to the player
	finished int
	failed   []int
}

// NewQueue checks that the tracks have distinct IDs (events name tracks by
// ID) and returns the queue. Hooks and the relay see the player's events
// through its Config.Observe (Output.Observe), not through the queue.
func NewQueue(p Player, tracks []player.Track) (*Queue, error) {
	if len(tracks) == 0 {
		return nil, fmt.Errorf("playback queue: no tracks")
	}
	index := make(map[string]int, len(tracks))
	for i, t := range tracks {
		if _, dup := index[t.ID]; dup {
			return nil, fmt.Errorf("playback queue: track ID %q given twice", t.ID)
		}
		index[t.ID] = i
	}
	return &Queue{p: p, tracks: tracks, index: index}, nil
}

// Index is the position of the track with this ID in the queue, or -1.
func (q *Queue) Index(trackID string) int {
	if i, ok := q.index[trackID]; ok {
		return i
	}
	return -1
}

// Run loads the first track and plays until every track has ended or
// failed (nil), ctx ends (ctx.Err()), or the output fails (the
// OutputError's error; the player has paused itself). The Output sees the
// player's events through the player's Config.Observe, on the goroutine
// where they happen (that is what keeps the hooks' order); Run passes each
// event to observe, if not nil, with the index of its track (-1 for none).
func (q *Queue) Run(ctx context.Context, observe func(i int, e player.Event)) error {
	q.p.Load(q.tracks[0], true, 0)
	events := q.p.Events()
	for q.finished < len(q.tracks) {
		var e player.Event
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e = <-events:
		}
		i := q.Index(e.TrackID)
		if observe != nil {
			observe(i, e)
		}
		switch e.Type {
		case player.TrackDecoding:
			q.enqueueAfter(i)
		case player.TrackEnded:
			q.finished++
		case player.TrackError:
			q.failed = append(q.failed, i)
			q.finished++
			// A track that failed to open leaves the player's queue
			// empty: go on with the next.
			q.enqueueAfter(i)
		case player.OutputError:
			return e.Err
		}
	}
	return nil
}

func (q *Queue) enqueueAfter(i int) {
	if i >= 0 && i+1 < len(q.tracks) && i+1 > q.enqueued {
		q.enqueued = i + 1
		q.p.Enqueue(q.tracks[i+1])
	}
}

// Failed lists the indexes of the tracks that could not be played, in the
// order they failed.
func (q *Queue) Failed() []int { return q.failed }

// WaitAmplifierOff is the end of `speakerbox play` with an amplifier: the
// idle timeout runs and the relay drops, as under the receiver, so owners
// and the real-kernel tests see the whole cycle. Player events are still
// read meanwhile (the player waits for them to be read; the Output sees
// them through Config.Observe).
//
// The idle timeout is started by the player's own EndOfQueue (or
// OutputError), through Output.Observe, not here: the last TrackEnded
// reaches this goroutine before the player has closed the device and sent
// EndOfQueue, and a timer started from here could switch off while the end
// of a file still plays, and make the hooks' order a race (sink "closed"
// before "stopped", seen 1 in 200 under load).
func WaitAmplifierOff(ctx context.Context, p Player, out *Output, log *slog.Logger) {
	off := out.WhenOff()
	// Then the last hooks (amp_off) run in full, not within the shutdown's
	// grace that Close gives them; Ctrl-C cuts the wait short.
	defer func() { _ = out.Flush(ctx) }()
	select {
	case <-off:
		return
	default:
	}
	log.Info("waiting for the amplifier's idle timeout; Ctrl-C switches it off now")
	events := p.Events()
	for {
		select {
		case <-off:
			return
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				events = nil
			}
		}
	}
}

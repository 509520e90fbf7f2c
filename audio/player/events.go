package player

import (
	"fmt"

	"github.com/speakerbox/speakerbox/audio"
)

// EventType says what happened.
type EventType int

// The events a player reports.
const (
	// TrackStarted: sound of a track (or of a position after a seek) is
	// leaving the device: the first period of it was written to the open
	// sink, so the gate's BeforeOpen and SinkOpened came before it.
	// PositionMs is where it starts.
	TrackStarted EventType = iota + 1
	// TrackDecoding: the decoder started on this track (it plays after
	// what the ring holds). From now on Enqueue sets the track that follows
	// it gaplessly: a caller with a list of tracks enqueues the next one
	// here.
	TrackDecoding
	// Position: the played position (what has left the speaker: ring fill
	// and device delay subtracted), about once per PositionInterval.
	Position
	// TrackEnded: the track's last sample left the ring (for the last
	// track of the queue: and the device has drained).
	TrackEnded
	// TrackError: the track cannot be played (or not to its end); Err says
	// why. The player skips it: it goes on with the queued track, if any.
	TrackError
	// EndOfQueue: the last track ended and nothing is queued. The device
	// went idle first: closed (SinkTemporarilyClosed before this event), or
	// running on silence with KeepOutputOpen.
	EndOfQueue
	// SinkOpened: the output device is open; Format is what it takes.
	SinkOpened
	// SinkClosed: the output device was closed for good (CloseOutput,
	// Close).
	SinkClosed
	// SinkTemporarilyClosed: the output was closed because playback paused
	// or stopped without keep_output_open, or to change the sample rate; it
	// reopens when sound resumes.
	SinkTemporarilyClosed
	// OutputError: opening or writing the output failed (device busy or
	// gone, gate refused); playback is paused. Err says why.
	OutputError
	// Xrun: the device under-ran; Xruns is the running count.
	Xrun
	// Paused: a pause stopped the sound of the track that was playing;
	// PositionMs is the first sample not heard. It comes before the
	// device closes for the pause (SinkTemporarilyClosed), if it does. An
	// output error pauses without it: OutputError says so.
	Paused
	// Resumed: after a pause, sound of the same track is leaving the device
	// again (reopened, and after the gate, if it was closed), from
	// PositionMs. A seek or load while paused gives TrackStarted instead.
	Resumed
)

var eventNames = map[EventType]string{
	TrackStarted: "track-started", TrackDecoding: "track-decoding", Position: "position", TrackEnded: "track-ended",
	TrackError: "track-error", EndOfQueue: "end-of-queue", SinkOpened: "sink-opened",
	SinkClosed: "sink-closed", SinkTemporarilyClosed: "sink-temporarily-closed",
	OutputError: "output-error", Xrun: "xrun", Paused: "paused", Resumed: "resumed",
}

func (t EventType) String() string {
	if s, ok := eventNames[t]; ok {
		return s
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one report from the player.
type Event struct {
	Type       EventType
	TrackID    string
	PositionMs int64
	DurationMs int64
	Format     audio.Format // SinkOpened
	Xruns      uint64       // Xrun
	Err        error        // TrackError, OutputError
}

func (e Event) String() string {
	s := fmt.Sprintf("%s track=%q pos=%dms dur=%dms", e.Type, e.TrackID, e.PositionMs, e.DurationMs)
	if e.Err != nil {
		s += " err=" + e.Err.Error()
	}
	return s
}

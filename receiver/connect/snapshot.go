package connect

// Snapshot is what the speaker's own status shows of the state: plain
// values, nothing shared with the State.
type Snapshot struct {
	Active        bool   // an app made us the active device
	TrackURI      string // the current track; "" when none
	ContextURI    string
	Loaded        bool // a track is loaded or loading (the apps' is_playing)
	Paused        bool
	Buffering     bool  // loading: the position does not move
	PositionMs    int64 // the position at PositionAt
	PositionAt    int64 // ms since the epoch
	DurationMs    int64 // 0 while unknown
	Volume        uint32
	Shuffle       bool
	RepeatContext bool
	RepeatTrack   bool
}

// Snapshot returns the state as the control API shows it. The position is
// the anchor the machine extrapolates from (the one it publishes), so it
// changes only when playback jumps, not as time passes.
func (s State) Snapshot() Snapshot {
	sn := Snapshot{
		Active:        s.active,
		Loaded:        s.loaded,
		Paused:        s.loaded && s.paused,
		Buffering:     s.loaded && s.buffering,
		Volume:        s.volume,
		Shuffle:       s.shuffle,
		RepeatContext: s.repeatCtx,
		RepeatTrack:   s.repeatTrack,
	}
	if !s.active {
		return sn
	}
	sn.ContextURI = s.ctx.uri
	if s.hasCur {
		sn.TrackURI = s.cur.uri
	}
	sn.PositionMs, sn.PositionAt = s.positionAt(s.posAt), s.posAt
	sn.DurationMs = s.durationMs
	return sn
}

package connect

import (
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	playerpb "github.com/devgianlu/go-librespot/proto/spotify/player"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/receiver/hooks"
)

type loadKind int

const (
	loadNone loadKind = iota
	loadContext
	loadPage
	loadAutoplay
)

type goalKind int

const (
	goalNone     goalKind = iota
	goalStart             // start the context at target once it is loaded far enough
	goalAdvance           // the next context track is on a page being loaded
	goalAutoplay          // waiting for the autoplay station
)

// goal is what the machine does when the pending load returns.
type goal struct {
	kind      goalKind
	target    target
	position  int64
	paused    bool
	fromQueue bool // transfer: play the first queued track, context at target
	since     int64
	pages     int
	// cmdContext is the command's context, merged over a resolved one.
	cmdContext *connectpb.Context
}

// State is the whole Connect state of the receiver. The zero value is not
// usable; start from New.
type State struct {
	cfg *Config
	rng prng

	connID        string
	volume        uint32
	volumeApplied bool
	appAutoplay   bool
	devices       map[string]*connectpb.DeviceInfo // from the last cluster update

	active      bool
	startedAt   int64 // ms; when we became active
	transferTS  int64 // ms; player_state timestamp of the transfer/play that made us active
	lastCmdID   uint32
	lastCmdFrom string

	sessionID    string
	playOrigin   *connectpb.PlayOrigin
	suppressions *connectpb.Suppressions
	shuffle      bool
	repeatCtx    bool
	repeatTrack  bool

	ctx       playContext
	queue     []track
	queueSeq  int
	cur       track
	hasCur    bool
	curQueued bool // the current track is outside the context: queued, or played ahead of it

	playbackID string
	loaded     bool // a track is loaded or loading (is_playing)
	paused     bool
	buffering  bool
	posMs      int64
	posAt      int64
	durationMs int64
	prefetched bool
	failures   int

	loadID   uint64
	loadKind loadKind
	loadAt   int64
	loadSeq  uint64
	goal     goal
}

// New is the state at start: inactive, volume from remembered (a volume
// saved by SaveVolume, or negative for none) or Config.InitialVolume, both
// capped by Config.MaxVolume. seed seeds the generator for ids and shuffles
// (the loop passes a random one).
func New(cfg Config, seed uint64, remembered int64) State {
	cfg.withDefaults()
	v := cfg.InitialVolume
	if remembered >= 0 {
		v = uint32(min(remembered, MaxVolume))
	}
	s := State{cfg: &cfg, volume: min(v, cfg.MaxVolume), appAutoplay: true}
	s.rng = prng{s: seed}
	s.ctx.pos = -1
	return s
}

// Volume is the current volume, 0..65535.
func (s State) Volume() uint32 { return s.volume }

// ConnectionID is the dealer connection id last seen ("" before any).
func (s State) ConnectionID() string { return s.connID }

// Active reports whether the receiver is the active Connect device.
func (s State) Active() bool { return s.active }

// WantsTick reports whether the loop should send Ticks (a load is pending
// or a prefetch is due); otherwise ticks change nothing.
func (s State) WantsTick() bool {
	return s.loadID != 0 || (s.loaded && !s.prefetched)
}

// Clone returns a copy sharing nothing writable with s (slices copied;
// maps and protobufs are read-only in every State anyway).
func (s State) Clone() State {
	c := s
	c.ctx.tracks = slices.Clone(s.ctx.tracks)
	c.ctx.order = slices.Clone(s.ctx.order)
	c.ctx.pending = slices.Clone(s.ctx.pending)
	c.queue = slices.Clone(s.queue)
	return c
}

// stepper carries one Step.
type stepper struct {
	s       State
	now     int64
	first   Effect // the answer to a Request or LocalCommand: Reply or LocalReply
	effects []Effect
	publish connectpb.PutStateReason // 0: nothing to publish
	inact   bool
}

// Step applies one input and returns the new state and the effects to
// carry out, in order.
func Step(s State, in Input) (State, []Effect) {
	st := &stepper{s: s, now: in.Now.UnixMilli()}
	switch ev := in.Event.(type) {
	case Request:
		if !st.request(ev.Payload) {
			// A refused command changes nothing.
			return s, []Effect{Reply{Key: ev.Key, Success: false}}
		}
		st.first = Reply{Key: ev.Key, Success: true}
	case LocalCommand:
		if err := st.local(ev); err != nil {
			// As for the app's commands: a refusal changes nothing.
			return s, []Effect{LocalReply{Err: err}}
		}
		st.first = LocalReply{}
	case ConnectionID:
		st.connection(ev.ID)
	case VolumeMessage:
		var cmd connectpb.SetVolumeCommand
		if proto.Unmarshal(ev.Payload, &cmd) != nil {
			return s, nil
		}
		st.setVolume(int64(cmd.GetVolume()), true)
	case LocalVolume:
		st.setVolume(int64(ev.Volume), false)
	case LogoutMessage:
		st.deactivate()
		st.inact = true
		st.emit(Logout{})
	case ClusterMessage:
		if !st.cluster(ev.Payload) {
			return s, nil
		}
	case AutoplaySetting:
		if st.s.appAutoplay != ev.On {
			st.s.appAutoplay = ev.On
			st.emit(Hook{hooks.Flag(hooks.AutoPlayChanged, ev.On)})
		}
	case Shutdown:
		st.deactivate()
		st.inact = true
	case Tick:
		st.tick()
	case TrackStarted:
		if !st.current(ev.PlaybackID) {
			return s, nil
		}
		st.s.buffering = false
		st.s.failures = 0
		if ev.DurationMs > 0 {
			st.s.durationMs = ev.DurationMs
		}
		st.setPosition(ev.PositionMs)
		st.changed()
		st.maybePrefetch()
	case TrackPosition:
		if !st.current(ev.PlaybackID) {
			return s, nil
		}
		// Only a real jump is worth a publish; apps extrapolate the rest.
		if d := st.position() - ev.PositionMs; d > 2000 || d < -2000 {
			st.changed()
		}
		st.setPosition(ev.PositionMs)
		st.maybePrefetch()
	case TrackEnded:
		if !st.current(ev.PlaybackID) {
			return s, nil
		}
		st.next(true)
	case TrackUnavailable:
		if !st.current(ev.PlaybackID) {
			return s, nil
		}
		st.s.failures++
		if st.s.failures >= st.s.cfg.MaxFailures {
			st.emit(GaveUp{Failures: st.s.failures, Reason: ev.Reason})
			st.stop()
		} else {
			st.next(false)
		}
	case ContextLoaded:
		if ev.ID == 0 || ev.ID != st.s.loadID || st.s.loadKind != loadContext {
			return s, nil
		}
		st.clearLoad()
		st.contextLoaded(ev.Context, ev.Err)
	case PageLoaded:
		if ev.ID == 0 || ev.ID != st.s.loadID || st.s.loadKind != loadPage {
			return s, nil
		}
		st.clearLoad()
		st.pageLoaded(ev.Page, ev.Err)
	case AutoplayLoaded:
		if ev.ID == 0 || ev.ID != st.s.loadID || st.s.loadKind != loadAutoplay {
			return s, nil
		}
		st.clearLoad()
		st.autoplayLoaded(ev.Context, ev.Err)
	default:
		return s, nil
	}
	return st.finish()
}

func (st *stepper) finish() (State, []Effect) {
	if st.first == nil && st.publish == 0 && !st.inact {
		return st.s, st.effects
	}
	out := make([]Effect, 0, len(st.effects)+2)
	if st.first != nil {
		out = append(out, st.first)
	}
	out = append(out, st.effects...)
	switch {
	case st.inact:
		out = append(out, PublishInactive{ConnectionID: st.s.connID})
	case st.publish != 0:
		out = append(out, Publish{ConnectionID: st.s.connID, Request: st.s.PutState(st.now, st.publish)})
	}
	return st.s, out
}

// rand is the state's generator (a method, not a field: a pointer into
// the stepper itself would move it to the heap).
func (st *stepper) rand() *prng { return &st.s.rng }

func (st *stepper) emit(e Effect) { st.effects = append(st.effects, e) }

// changed marks the player state for publishing; a stronger reason
// (NEW_DEVICE) is kept.
func (st *stepper) changed() {
	if st.publish == 0 || st.publish == connectpb.PutStateReason_VOLUME_CHANGED {
		st.publish = connectpb.PutStateReason_PLAYER_STATE_CHANGED
	}
}

func (st *stepper) current(playbackID string) bool {
	return st.s.loaded && st.s.playbackID != "" && playbackID == st.s.playbackID
}

func (st *stepper) randomID(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(st.rand().Uint64())
	}
	return b
}

// position is the track position now.
func (st *stepper) position() int64 {
	return st.s.positionAt(st.now)
}

func (s *State) positionAt(now int64) int64 {
	p := s.posMs
	if s.loaded && !s.paused && !s.buffering && now > s.posAt {
		p += now - s.posAt
	}
	if s.durationMs > 0 && p > s.durationMs {
		p = s.durationMs
	}
	return max(p, 0)
}

func (st *stepper) setPosition(p int64) {
	if p < 0 {
		p = 0
	}
	if st.s.durationMs > 0 && p > st.s.durationMs {
		p = st.s.durationMs
	}
	st.s.posMs, st.s.posAt = p, st.now
}

func (st *stepper) clearLoad() { st.s.loadID, st.s.loadKind, st.s.loadAt = 0, loadNone, 0 }

func (st *stepper) startLoad(kind loadKind) uint64 {
	st.s.loadSeq++
	st.s.loadID, st.s.loadKind, st.s.loadAt = st.s.loadSeq, kind, st.now
	return st.s.loadSeq
}

// --- connection, volume, cluster -----------------------------------------

func (st *stepper) connection(id string) {
	if id == "" {
		return
	}
	st.s.connID = id
	if !st.s.volumeApplied {
		st.s.volumeApplied = true
		st.emit(PlayerSetVolume{Volume: st.s.volume})
	}
	st.publish = connectpb.PutStateReason_NEW_DEVICE
}

func (st *stepper) setVolume(v int64, fromApp bool) {
	v = min(max(v, 0), int64(st.s.cfg.MaxVolume))
	if uint32(v) != st.s.volume {
		st.s.volume = uint32(v)
		if fromApp {
			st.emit(PlayerSetVolume{Volume: st.s.volume})
		}
		st.emit(SaveVolume{Volume: st.s.volume})
		st.emit(Hook{hooks.Volume(uint16(st.s.volume))})
	}
	// Published even when unchanged: an app asking above the cap sees
	// the capped value.
	if st.publish == 0 {
		st.publish = connectpb.PutStateReason_VOLUME_CHANGED
	}
}

func (st *stepper) cluster(payload []byte) bool {
	var upd connectpb.ClusterUpdate
	if proto.Unmarshal(payload, &upd) != nil {
		return false
	}
	c := upd.GetCluster()
	if len(c.GetDevice()) > 0 {
		st.s.devices = c.GetDevice()
	}
	other := c.GetActiveDeviceId()
	if !st.s.active || other == "" || other == st.s.cfg.DeviceID {
		return true
	}
	// A cluster that still shows the previous device right after a
	// transfer to us is older than the transfer: ignore it.
	if c.GetPlayerState().GetTimestamp() <= st.s.transferTS {
		return true
	}
	st.deactivate()
	st.inact = true
	return true
}

// deactivate stops everything and forgets the session; the device stays
// connected and visible.
func (st *stepper) deactivate() {
	s := &st.s
	if s.loaded || s.loadID != 0 {
		st.emit(PlayerStop{})
	}
	if s.active || s.loaded {
		st.emit(AmplifierIdle{})
	}
	s.active = false
	s.startedAt, s.transferTS = 0, 0
	s.sessionID, s.playOrigin, s.suppressions = "", nil, nil
	s.ctx = playContext{pos: -1}
	s.queue = nil
	s.cur, s.hasCur, s.curQueued = track{}, false, false
	s.playbackID, s.loaded, s.paused, s.buffering = "", false, false, false
	s.posMs, s.posAt, s.durationMs, s.prefetched, s.failures = 0, 0, 0, false, 0
	st.clearLoad()
	s.goal = goal{}
	st.publish = 0
}

// --- playback -------------------------------------------------------------

// activate makes us the active device for a new session.
func (st *stepper) activate(sentBy string, ts int64) {
	s := &st.s
	if !s.active {
		s.active = true
		s.startedAt = st.now
	}
	s.transferTS = ts
	if sentBy != "" && sentBy != s.lastCmdFrom {
		info := s.devices[sentBy]
		st.emit(Hook{hooks.ClientChanged(sentBy, info.GetName(), info.GetBrand(), info.GetModel())})
	}
}

// startTrack loads t on the player.
func (st *stepper) startTrack(t track, queued bool, position int64, paused bool) {
	s := &st.s
	s.cur, s.hasCur, s.curQueued = t, true, queued
	s.playbackID = hex.EncodeToString(st.randomID(16))
	s.loaded, s.buffering, s.paused = true, true, paused
	s.durationMs = 0
	if d, err := strconv.ParseInt(t.metadata["duration"], 10, 64); err == nil && d > 0 {
		s.durationMs = d
	}
	st.setPosition(position)
	s.prefetched = false
	st.emit(PlayerLoad{PlaybackID: s.playbackID, URI: t.uri, PositionMs: s.posMs, Paused: paused})
	st.changed()
}

// stop ends playback: nothing more to play.
func (st *stepper) stop() {
	s := &st.s
	if s.loaded || s.loadID != 0 {
		st.emit(PlayerStop{})
		st.emit(AmplifierIdle{})
	}
	s.loaded, s.buffering, s.paused = false, false, false
	s.playbackID, s.prefetched = "", false
	st.setPosition(0)
	st.clearLoad()
	s.goal = goal{}
	st.changed()
}

// next moves to the following track; ended says the current one played to
// its end (where repeat-track applies).
func (st *stepper) next(ended bool) {
	s := &st.s
	if ended && s.repeatTrack && s.hasCur {
		st.startTrack(s.cur, s.curQueued, 0, false)
		return
	}
	paused := s.paused && !ended
	if len(s.queue) > 0 {
		t := s.queue[0]
		s.queue = s.queue[1:]
		st.startTrack(t, true, 0, paused)
		return
	}
	st.nextContext(paused)
}

func (st *stepper) nextContext(paused bool) {
	s := &st.s
	if s.ctx.pos+1 < s.ctx.len() {
		s.ctx.pos++
		st.startTrack(s.ctx.at(s.ctx.pos), false, 0, paused)
		return
	}
	if s.ctx.hasMore() && (s.goal.kind != goalAdvance || st.withinBounds()) {
		if s.goal.kind != goalAdvance {
			s.goal = goal{kind: goalAdvance, since: st.now, paused: paused}
		}
		st.requestPage()
		return
	}
	s.goal = goal{}
	st.endOfContext()
}

func (st *stepper) withinBounds() bool {
	g := st.s.goal
	return g.pages < st.s.cfg.MaxWalkPages && st.now-g.since < st.s.cfg.MaxWalkTime.Milliseconds()
}

func (st *stepper) requestPage() {
	s := &st.s
	s.goal.pages++
	id := st.startLoad(loadPage)
	st.emit(LoadPage{ID: id, URL: s.ctx.nextPageURL()})
}

func (st *stepper) autoplayEnabled() bool {
	switch st.s.cfg.Autoplay {
	case AutoplayOn:
		return true
	case AutoplayOff:
		return false
	}
	return st.s.appAutoplay
}

func (st *stepper) endOfContext() {
	s := &st.s
	if s.repeatCtx && s.ctx.len() > 0 {
		s.ctx.pos = 0
		st.startTrack(s.ctx.at(0), false, 0, false)
		return
	}
	uri := s.ctx.uri
	if st.autoplayEnabled() && validContextURI(uri) && !strings.HasPrefix(uri, "spotify:station:") && s.ctx.len() > 0 {
		recent := make([]string, 0, min(s.ctx.len(), 50))
		for _, t := range s.ctx.tracks[max(0, s.ctx.len()-50):] {
			recent = append(recent, t.uri)
		}
		id := st.startLoad(loadAutoplay)
		s.goal = goal{kind: goalAutoplay, since: st.now}
		st.emit(LoadAutoplay{ID: id, Request: &playerpb.AutoplayContextRequest{ContextUri: proto.String(uri), RecentTrackUri: recent}})
		if s.loaded {
			st.emit(PlayerStop{})
		}
		s.playbackID, s.buffering, s.paused = "", true, false
		st.changed()
		return
	}
	st.stop()
}

// tryStart carries out goalStart as far as the loaded pages allow.
func (st *stepper) tryStart() {
	s := &st.s
	g := s.goal
	idx := s.ctx.find(g.target)
	if idx < 0 && !g.target.empty() && s.ctx.hasMore() && st.withinBounds() {
		st.requestPage()
		return
	}
	if idx < 0 && s.ctx.len() == 0 && s.ctx.hasMore() && st.withinBounds() {
		st.requestPage()
		return
	}
	if idx < 0 {
		if s.ctx.len() == 0 {
			if g.fromQueue && len(s.queue) > 0 {
				s.goal = goal{}
				t := s.queue[0]
				s.queue = s.queue[1:]
				st.startTrack(t, true, g.position, g.paused)
				return
			}
			st.stop()
			return
		}
		if validTrackURI(g.target.uri) && !g.fromQueue {
			// A named track the context does not have (or not within the
			// bounds): play it ahead of the context, which follows from
			// its start.
			s.goal = goal{}
			if s.shuffle {
				s.ctx.shuffleFrom(-1, st.rand())
			} else {
				s.ctx.order, s.ctx.pos = nil, -1
			}
			st.startTrack(track{uri: g.target.uri, uid: g.target.uid, gid: g.target.gid, provider: "context"}, true, g.position, g.paused)
			return
		}
		// Not found within the bounds: start at the top.
		idx = 0
		if g.target.empty() && s.shuffle {
			idx = st.rand().IntN(s.ctx.len())
		}
		if !g.target.empty() {
			g.position = 0
		}
	}
	s.goal = goal{}
	if s.shuffle {
		s.ctx.shuffleFrom(idx, st.rand())
	} else {
		s.ctx.order, s.ctx.pos = nil, idx
	}
	if g.fromQueue && len(s.queue) > 0 {
		t := s.queue[0]
		s.queue = s.queue[1:]
		st.startTrack(t, true, g.position, g.paused)
		return
	}
	st.startTrack(s.ctx.at(s.ctx.pos), false, g.position, g.paused)
}

func (st *stepper) contextLoaded(pc *connectpb.Context, err error) {
	s := &st.s
	if s.goal.kind != goalStart {
		return
	}
	if err != nil || pc == nil || pc.GetLoading() {
		st.stop()
		return
	}
	cmd := s.goal.cmdContext
	c := newContext(pc, "context", st.rand())
	if u := cmd.GetUri(); u != "" {
		c.uri = u
	}
	if u := cmd.GetUrl(); u != "" {
		c.url = u
	}
	if cmd.GetRestrictions() != nil {
		c.restrictions = cmd.GetRestrictions()
	}
	c.metadata = mergeMetadata(c.metadata, cmd.GetMetadata())
	s.ctx = c
	s.goal.cmdContext = nil
	st.tryStart()
}

func (st *stepper) pageLoaded(p *connectpb.ContextPage, err error) {
	s := &st.s
	switch s.goal.kind {
	case goalStart:
		if err == nil && p != nil {
			s.ctx.pageLoaded(p, st.rand())
		} else {
			// Give up walking; start with what we have.
			s.ctx.pending, s.ctx.nextURL = nil, ""
		}
		st.tryStart()
	case goalAdvance:
		if err != nil || p == nil {
			s.ctx.pending, s.ctx.nextURL = nil, ""
			s.goal = goal{}
			st.endOfContext()
			return
		}
		s.ctx.pageLoaded(p, st.rand())
		st.nextContext(s.goal.paused)
	}
}

func (st *stepper) autoplayLoaded(pc *connectpb.Context, err error) {
	s := &st.s
	if s.goal.kind != goalAutoplay {
		return
	}
	if err != nil || pc == nil || pc.GetLoading() {
		s.goal = goal{}
		st.stop()
		return
	}
	// Station tracks may come without metadata: mark them on fresh maps.
	ac := proto.Clone(pc).(*connectpb.Context)
	for _, p := range ac.GetPages() {
		for _, t := range p.GetTracks() {
			if t == nil {
				continue
			}
			m := make(map[string]string, len(t.Metadata)+1)
			for k, v := range t.Metadata {
				m[k] = v
			}
			m["autoplay.is_autoplay"] = "true"
			t.Metadata = m
		}
	}
	s.ctx = newContext(ac, "autoplay", st.rand())
	s.goal = goal{kind: goalStart, target: target{index: -1}, since: st.now}
	st.tryStart()
}

func (st *stepper) tick() {
	s := &st.s
	if s.loadID != 0 && st.now-s.loadAt >= s.cfg.LoadTimeout.Milliseconds() {
		kind := s.loadKind
		st.clearLoad()
		err := errLoadTimeout
		switch kind {
		case loadContext:
			st.contextLoaded(nil, err)
		case loadPage:
			st.pageLoaded(nil, err)
		case loadAutoplay:
			st.autoplayLoaded(nil, err)
		}
	}
	st.maybePrefetch()
}

func (st *stepper) maybePrefetch() {
	s := &st.s
	if !s.loaded || s.buffering || s.prefetched || s.durationMs <= 0 {
		return
	}
	if s.durationMs-st.position() > s.cfg.PrefetchLead.Milliseconds() {
		return
	}
	if uri := s.peekNext(); uri != "" {
		s.prefetched = true
		st.emit(PlayerPrefetch{URI: uri})
	}
}

// peekNext is the URI that will play after the current track ends, if
// known without loading anything.
func (s *State) peekNext() string {
	switch {
	case s.repeatTrack && s.hasCur:
		return s.cur.uri
	case len(s.queue) > 0:
		return s.queue[0].uri
	case s.ctx.pos+1 < s.ctx.len():
		return s.ctx.at(s.ctx.pos + 1).uri
	case s.repeatCtx && !s.ctx.hasMore() && s.ctx.len() > 0:
		return s.ctx.at(0).uri
	}
	return ""
}

func (st *stepper) newSession(sessionID string) {
	if sessionID == "" {
		sessionID = base64.StdEncoding.EncodeToString(st.randomID(16))
	}
	st.s.sessionID = sessionID
}

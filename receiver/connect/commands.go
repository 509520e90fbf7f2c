package connect

import (
	"strconv"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/receiver/hooks"
)

// request handles one player command; false means refused, and the caller
// then drops every change the handler made.
func (st *stepper) request(payload []byte) bool {
	env, err := parseEnvelope(payload)
	if err != nil {
		return false
	}
	c := env.Command
	var ok bool
	switch c.Endpoint {
	case "transfer":
		ok = st.transfer(env)
	case "play":
		ok = st.play(env)
	case "pause":
		ok = st.pause()
	case "resume":
		ok = st.resume()
	case "seek_to":
		ok = st.seekTo(c)
	case "skip_next":
		ok = st.skipNext(c)
	case "skip_prev":
		ok = st.skipPrev(c)
	case "set_shuffling_context":
		var v bool
		if v, ok = c.boolValue(); ok {
			st.setShuffle(v)
		}
	case "set_repeating_context":
		var v bool
		if v, ok = c.boolValue(); ok {
			st.setRepeat(v, st.s.repeatTrack)
		}
	case "set_repeating_track":
		var v bool
		if v, ok = c.boolValue(); ok {
			st.setRepeat(st.s.repeatCtx, v)
		}
	case "set_options":
		ok = st.setOptions(c.ShufflingContext, c.RepeatingContext, c.RepeatingTrack)
	case "set_queue":
		ok = st.setQueue(c)
	case "add_to_queue":
		ok = st.addToQueue(c)
	case "update_context":
		ok = st.updateContext(c)
	}
	if !ok {
		return false
	}
	st.s.lastCmdID, st.s.lastCmdFrom = env.MessageID, env.SentBy
	if st.s.active {
		// The PUT carries last_command_message_id: the app's ack.
		st.changed()
	}
	return true
}

func (st *stepper) transfer(env *envelope) bool {
	c := env.Command
	if len(c.Data) == 0 {
		// Nothing to take over (go-librespot accepts it the same way).
		return true
	}
	var ts connectpb.TransferState
	if proto.Unmarshal(c.Data, &ts) != nil {
		return false
	}
	sess := ts.GetCurrentSession()
	pc := sess.GetContext()
	if pc == nil || !contextUsable(pc) {
		return false
	}
	pb := ts.GetPlayback()
	cur := pb.GetCurrentTrack()
	if u := cur.GetUri(); u != "" && !validTrackURI(u) {
		return false
	}
	var qtracks []*connectpb.ContextTrack
	for _, t := range ts.GetQueue().GetTracks() {
		if t == nil || !validTrackURI(t.GetUri()) {
			return false
		}
		qtracks = append(qtracks, t)
	}
	if len(qtracks) > st.s.cfg.MaxQueue {
		return false
	}

	s := &st.s
	opts := c.Options
	paused := pb.GetIsPaused()
	if opts != nil {
		switch opts.RestorePaused {
		case "resume":
			paused = false
		case "pause":
			paused = true
		}
	}
	pos := int64(pb.GetPositionAsOfTimestamp())
	if !pb.GetIsPaused() && pb.GetTimestamp() > 0 && st.now > pb.GetTimestamp() {
		pos += st.now - pb.GetTimestamp()
	}
	if opts != nil && opts.RestorePosition == "beginning" {
		pos = 0
	}

	st.reset()
	st.activate(env.SentBy, pb.GetTimestamp())
	st.newSession(sess.GetOriginalSessionId())
	origin := proto.Clone(sess.GetPlayOrigin()).(*connectpb.PlayOrigin)
	if origin == nil {
		origin = &connectpb.PlayOrigin{}
	}
	origin.DeviceIdentifier = env.SentBy
	s.playOrigin = origin
	s.suppressions = sess.GetSuppressions()
	o := ts.GetOptions()
	st.setOptions(ptr(o.GetShufflingContext()), ptr(o.GetRepeatingContext()), ptr(o.GetRepeatingTrack()))
	for _, t := range qtracks {
		st.enqueue(t.GetUri(), t.GetUid(), t.GetMetadata())
	}
	tg := target{uid: sess.GetCurrentUid(), uri: cur.GetUri(), gid: cur.GetGid(), index: -1}
	fromQueue := ts.GetQueue().GetIsPlayingQueue() && len(s.queue) > 0
	if fromQueue {
		// The current track is the first queued one; the context
		// continues after current_uid.
		tg = target{uid: sess.GetCurrentUid(), index: -1}
	}
	// Clamp to the duration when the track says it; otherwise the
	// player's TrackStarted clamps it.
	if d, err := strconv.ParseInt(cur.GetMetadata()["duration"], 10, 64); err == nil && d > 0 && pos > d {
		pos = d
	}
	st.begin(pc, tg, max(pos, 0), paused, fromQueue, cur)
	return true
}

// contextUsable: a context we can play or resolve.
func contextUsable(pc *connectpb.Context) bool {
	if validContextURI(pc.GetUri()) {
		return true
	}
	// "" or "-": tracks without a context; they must come with the command.
	if u := pc.GetUri(); u != "" && u != "-" {
		return false
	}
	for _, p := range pc.GetPages() {
		for _, t := range p.GetTracks() {
			if validTrackURI(t.GetUri()) {
				return true
			}
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

// reset drops the previous session's playback before a new one.
func (st *stepper) reset() {
	s := &st.s
	if s.loaded {
		st.emit(PlayerStop{})
	}
	s.ctx = playContext{pos: -1}
	s.queue = nil
	s.cur, s.hasCur, s.curQueued = track{}, false, false
	s.playbackID, s.loaded, s.paused, s.buffering = "", false, false, false
	s.posMs, s.posAt, s.durationMs, s.prefetched, s.failures = 0, 0, 0, false, 0
	st.clearLoad()
	s.goal = goal{}
}

// begin sets up the context and starts at tg, resolving first if needed.
// The state is published at once (claiming the device) even when the
// context still has to load.
func (st *stepper) begin(pc *connectpb.Context, tg target, pos int64, paused, fromQueue bool, cur *connectpb.ContextTrack) {
	s := &st.s
	s.goal = goal{kind: goalStart, target: tg, position: pos, paused: paused, fromQueue: fromQueue, since: st.now}
	if needsResolve(pc) && validContextURI(pc.GetUri()) {
		s.ctx = playContext{uri: pc.GetUri(), url: pc.GetUrl(), metadata: pc.GetMetadata(), restrictions: pc.GetRestrictions(), provider: "context", pos: -1}
		s.goal.cmdContext = pc
		id := st.startLoad(loadContext)
		st.emit(LoadContext{ID: id, URI: pc.GetUri()})
		// Show the track we are about to play while resolving.
		if t, ok := toTrack(cur, "context", 0, 0); ok {
			s.cur, s.hasCur = t, true
		}
		s.loaded, s.buffering, s.paused = true, true, paused
		st.setPosition(pos)
		st.changed()
		return
	}
	s.ctx = newContext(pc, "context", st.rand())
	st.tryStart()
	st.changed()
}

func (st *stepper) play(env *envelope) bool {
	c := env.Command
	if c.Context == nil || c.PlayOrigin == nil || !contextUsable(c.Context) {
		return false
	}
	tg := target{index: -1}
	var paused bool
	var pos int64
	var ov *optionsOverride
	var supp *connectpb.Suppressions
	if o := c.Options; o != nil {
		if sk := o.SkipTo; sk != nil {
			if sk.TrackURI != "" && !validTrackURI(sk.TrackURI) {
				return false
			}
			tg.uid, tg.uri = sk.TrackUID, sk.TrackURI
			if sk.TrackIndex != nil {
				if *sk.TrackIndex < 0 {
					return false
				}
				tg.index = *sk.TrackIndex
			}
		}
		paused = o.InitiallyPaused
		if o.SeekTo != nil {
			pos = max(*o.SeekTo, 0)
		}
		ov = o.PlayerOptionsOverride
		supp = o.Suppressions
	}
	st.reset()
	st.activate(env.SentBy, st.now)
	st.newSession("")
	origin := proto.Clone(c.PlayOrigin).(*connectpb.PlayOrigin)
	origin.DeviceIdentifier = env.SentBy
	st.s.playOrigin = origin
	st.s.suppressions = supp
	if ov != nil {
		st.setOptions(ov.ShufflingContext, ov.RepeatingContext, ov.RepeatingTrack)
	}
	var cur *connectpb.ContextTrack
	if tg.uri != "" {
		cur = &connectpb.ContextTrack{Uri: tg.uri, Uid: tg.uid}
	}
	st.begin(c.Context, tg, pos, paused, false, cur)
	return true
}

// starting: a play or transfer waits for its context.
func (st *stepper) starting() bool { return st.s.goal.kind == goalStart }

func (st *stepper) pause() bool {
	s := &st.s
	if !s.loaded {
		return false
	}
	if s.paused {
		return true
	}
	st.setPosition(st.position())
	s.paused = true
	if st.starting() {
		s.goal.paused = true
	} else if s.playbackID != "" {
		st.emit(PlayerPause{})
	}
	return true
}

func (st *stepper) resume() bool {
	s := &st.s
	if !s.loaded && s.active && s.hasCur && s.loadID == 0 {
		// Stopped at the end of the context: play the last track again.
		st.startTrack(s.cur, s.curQueued, 0, false)
		return true
	}
	if !s.loaded {
		return false
	}
	if !s.paused {
		return true
	}
	s.paused = false
	s.posAt = st.now
	if st.starting() {
		s.goal.paused = false
	} else if s.playbackID != "" {
		st.emit(PlayerResume{})
	}
	return true
}

func (st *stepper) seekTo(c *command) bool {
	s := &st.s
	var p int64
	if v, ok := c.intValue(); ok {
		p = v
	} else if c.Position != nil {
		switch c.Relative {
		case "", "beginning":
			p = *c.Position
		case "current":
			p = st.position() + *c.Position
		default:
			return false
		}
	} else {
		return false
	}
	if !s.loaded {
		return false
	}
	st.setPosition(p)
	if st.starting() {
		s.goal.position = s.posMs
	} else if s.playbackID != "" {
		st.emit(PlayerSeek{PositionMs: s.posMs})
	}
	return true
}

func (st *stepper) skipNext(c *command) bool {
	s := &st.s
	if !s.active || st.starting() {
		return false
	}
	if c.Track == nil {
		if !s.hasCur {
			return false
		}
		s.goal = goal{}
		st.clearLoad()
		st.next(false)
		return true
	}
	uri, uid := c.Track.GetUri(), c.Track.GetUid()
	if uri != "" && !validTrackURI(uri) || uri == "" && uid == "" {
		return false
	}
	paused := s.paused
	match := func(t track) bool { return uid != "" && t.uid == uid || uid == "" && t.uri == uri }
	for i, t := range s.queue {
		if match(t) {
			s.queue = s.queue[i+1:]
			st.clearLoad()
			s.goal = goal{}
			st.startTrack(t, true, 0, paused)
			return true
		}
	}
	tg := target{uid: uid, uri: uri, index: -1}
	if i := s.ctx.find(tg); i >= 0 {
		st.clearLoad()
		s.goal = goal{}
		s.ctx.pos = s.ctx.posOf(i)
		st.startTrack(s.ctx.tracks[i], false, 0, paused)
		return true
	}
	if !s.ctx.hasMore() {
		return false
	}
	// Further on in the context: walk the pages to it.
	st.clearLoad()
	s.goal = goal{kind: goalStart, target: tg, paused: paused, since: st.now}
	st.requestPage()
	return true
}

func (st *stepper) skipPrev(c *command) bool {
	s := &st.s
	if !s.active || !s.hasCur || st.starting() {
		return false
	}
	allow := c.Options != nil && c.Options.AllowSeeking
	paused := s.paused
	switch {
	case allow && s.loaded && st.position() > 3000, s.ctx.len() == 0:
		st.restart()
	case s.curQueued && s.ctx.pos >= 0:
		st.startTrack(s.ctx.at(s.ctx.pos), false, 0, paused)
	case !s.curQueued && s.ctx.pos > 0:
		s.ctx.pos--
		st.startTrack(s.ctx.at(s.ctx.pos), false, 0, paused)
	case !s.curQueued && s.repeatCtx && !s.ctx.hasMore():
		s.ctx.pos = s.ctx.len() - 1
		st.startTrack(s.ctx.at(s.ctx.pos), false, 0, paused)
	default:
		st.restart()
	}
	s.goal = goal{}
	return true
}

// restart plays the current track from its start.
func (st *stepper) restart() {
	s := &st.s
	if s.loaded && s.playbackID != "" {
		st.setPosition(0)
		st.emit(PlayerSeek{PositionMs: 0})
		return
	}
	st.startTrack(s.cur, s.curQueued, 0, s.paused)
}

func (st *stepper) setShuffle(on bool) {
	s := &st.s
	if on == s.shuffle {
		return
	}
	s.shuffle = on
	st.emit(Hook{hooks.Flag(hooks.ShuffleChanged, on)})
	if s.ctx.len() > 0 {
		if on {
			first := -1
			if s.ctx.pos >= 0 {
				first = s.ctx.order0(s.ctx.pos)
			}
			s.ctx.shuffleFrom(first, st.rand())
		} else {
			s.ctx.unshuffle()
		}
	}
	s.prefetched = false
	st.changed()
}

func (st *stepper) setRepeat(ctx, trk bool) {
	s := &st.s
	if ctx == s.repeatCtx && trk == s.repeatTrack {
		return
	}
	s.repeatCtx, s.repeatTrack = ctx, trk
	st.emit(Hook{hooks.Repeat(ctx, trk)})
	s.prefetched = false
	st.changed()
}

func (st *stepper) setOptions(shuffle, repCtx, repTrack *bool) bool {
	if shuffle != nil {
		st.setShuffle(*shuffle)
	}
	rc, rt := st.s.repeatCtx, st.s.repeatTrack
	if repCtx != nil {
		rc = *repCtx
	}
	if repTrack != nil {
		rt = *repTrack
	}
	st.setRepeat(rc, rt)
	return true
}

// enqueue appends a track to the queue, numbering it "q<n>" if it has no
// uid.
func (st *stepper) enqueue(uri, uid string, md map[string]string) {
	s := &st.s
	s.queueSeq++
	if uid == "" {
		uid = "q" + strconv.Itoa(s.queueSeq)
	} else if n, err := strconv.Atoi(uid[1:]); uid[0] == 'q' && err == nil && n > s.queueSeq {
		s.queueSeq = n
	}
	m := make(map[string]string, len(md)+1)
	for k, v := range md {
		m[k] = v
	}
	m["is_queued"] = "true"
	t := track{uri: uri, uid: uid, metadata: m, provider: "queue"}
	q := make([]track, len(s.queue), len(s.queue)+1)
	copy(q, s.queue)
	s.queue = append(q, t)
	s.prefetched = false
}

func (st *stepper) addToQueue(c *command) bool {
	s := &st.s
	if c.Track == nil || !validTrackURI(c.Track.GetUri()) || len(s.queue) >= s.cfg.MaxQueue {
		return false
	}
	st.enqueue(c.Track.GetUri(), c.Track.GetUid(), c.Track.GetMetadata())
	st.changed()
	return true
}

func (st *stepper) setQueue(c *command) bool {
	s := &st.s
	if c.NextTracks == nil {
		return false
	}
	// The leading queued tracks of next_tracks are the new queue; the
	// context part and prev_tracks are ours already.
	var q []*connectpb.ProvidedTrack
	for _, t := range *c.NextTracks {
		if t == nil {
			return false
		}
		if t.GetMetadata()["is_queued"] != "true" && t.GetProvider() != "queue" {
			break
		}
		if !validTrackURI(t.GetUri()) {
			return false
		}
		q = append(q, t)
	}
	if len(q) > s.cfg.MaxQueue {
		return false
	}
	s.queue = nil
	for _, t := range q {
		st.enqueue(t.GetUri(), t.GetUid(), t.GetMetadata())
	}
	s.prefetched = false
	st.changed()
	return true
}

func (st *stepper) updateContext(c *command) bool {
	s := &st.s
	if c.Context == nil {
		return false
	}
	if u := c.Context.GetUri(); u != "" && !validContextURI(u) {
		return false
	}
	if c.Context.GetUri() != s.ctx.uri || !s.active {
		return true
	}
	if r := c.Context.GetRestrictions(); r != nil {
		s.ctx.restrictions = r
	}
	s.ctx.metadata = mergeMetadata(s.ctx.metadata, c.Context.GetMetadata())
	st.changed()
	return true
}

package trackplayer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/speakerbox/speakerbox/audio/player"
	"github.com/speakerbox/speakerbox/receiver/connect"
	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/receiver/trackload"
)

// item is one URI on its way to the audio player: resolving (or waiting
// for a session), resolved, in the audio player, done. Only the run
// goroutine touches it.
type item struct {
	uri  string
	base string // base62 id, the hooks' TRACK_ID
	pb   string // playback id; "" for a prefetch not loaded yet

	// Resolving.
	cancel     context.CancelFunc // set while a resolve runs
	resolveGen uint64
	waiting    bool // for a session
	loaded     *trackload.Loaded
	err        error // the resolve failed

	// Asked for (current item).
	posMs  int64
	paused bool

	// In the audio player, as the audio instance aseq (its Track.ID is
	// base#aseq; a new one for every hand-over to the audio player).
	aseq     uint64
	enqueued bool
	// spoiled: a dropped prefetch follows this (current) item in the
	// audio player, so nothing enqueued now would follow it directly.
	spoiled  bool
	decoding bool  // TrackDecoding seen
	started  bool  // TrackStarted seen
	ended    bool  // TrackEnded seen
	failErr  error // TrackError seen
	lastPos  int64
	durMs    int64
	reported bool // TrackStarted reported under pb
}

func (it *item) close() {
	if it.cancel != nil {
		it.cancel()
		it.cancel = nil
	}
	it.waiting = false
	if it.loaded != nil {
		_ = it.loaded.Close()
		it.loaded = nil
	}
}

// done: the audio player is past it (it ended or failed).
func (it *item) done() bool { return it.ended || it.failErr != nil }

func audioID(base string, seq uint64) string { return base + "#" + strconv.FormatUint(seq, 10) }

func splitAudioID(id string) (base string, seq uint64) {
	i := strings.LastIndexByte(id, '#')
	if i < 0 {
		return id, 0
	}
	n, _ := strconv.ParseUint(id[i+1:], 10, 64)
	return id[:i], n
}

type resolveResult struct {
	it     *item
	gen    uint64 // it.resolveGen at the start
	sess   uint64 // p.sessGen at the start
	loaded *trackload.Loaded
	err    error
}

func (p *Player) run() {
	defer p.wg.Done()
	audioEvents := p.audio.Events()
	for {
		var out chan<- connect.Event
		var head connect.Event
		if len(p.outq) > 0 {
			out, head = p.events, p.outq[0]
		}
		select {
		case <-p.ctx.Done():
			return
		case <-p.kick:
			p.inMu.Lock()
			cmds := p.inbox
			p.inbox = nil
			p.inMu.Unlock()
			for _, c := range cmds {
				p.handle(c)
			}
		case r := <-p.resolved:
			p.onResolved(r)
		case r := <-p.pings:
			close(r)
		case ev, ok := <-audioEvents:
			if !ok {
				audioEvents = nil
				continue
			}
			p.onAudio(ev)
		case out <- head:
			p.outq[0] = nil
			p.outq = p.outq[1:]
			if len(p.outq) == 0 {
				p.periodic = false
			}
		case <-p.deadline:
			p.deadline = nil
			if c := p.cur; c != nil && c.waiting {
				c.waiting = false
				c.err = errNoSession
				p.unavailable(c, errNoSession)
			}
		}
		p.syncMeta()
	}
}

func (p *Player) handle(c command) {
	switch c.kind {
	case cmdLoad:
		p.load(c.pb, c.uri, c.pos, c.paused)
	case cmdPause:
		if p.cur != nil {
			p.cur.paused = true
		}
		p.audio.Pause()
		p.note("pause")
	case cmdResume:
		if p.cur != nil {
			p.cur.paused = false
		}
		p.audio.Play()
		p.note("resume")
	case cmdSeek:
		p.seek(c.pos)
	case cmdStop:
		p.stop()
		p.note("stop")
	case cmdPrefetch:
		p.prefetch(c.uri)
	case cmdSession:
		p.useSession(c)
	}
}

func (p *Player) load(pb, uri string, pos int64, paused bool) {
	p.hook(hooks.TrackEvent(hooks.Loading, base62(uri)))
	old := p.cur
	var it *item
	switch {
	case p.next != nil && p.next.uri == uri:
		it, p.next = p.next, nil
	case old != nil && old.uri == uri && old.failErr == nil && old.err == nil:
		// The same item again (previous at the start, repeat without a
		// prefetch, a new load while it resolves): its stream, or its
		// resolve, is reused.
		it, old = old, nil
	}
	// The prefetched item is already following (or playing after) a
	// current track that ended: adopt it. If the current one still plays,
	// this is a skip and the item starts anew.
	handover := it != nil && it.enqueued && it.failErr == nil && (it.started || it.ended || old != nil && old.done())
	p.cur = nil
	p.deadline = nil
	p.retire(old)
	if it == nil {
		it = &item{uri: uri, base: base62(uri)}
	}
	it.pb, it.posMs, it.paused, it.reported = pb, pos, paused, false
	p.cur = it
	switch {
	case it.failErr != nil:
		// Enqueued and found corrupt. The audio player skipped it; stop
		// what may still play (a skip before the current track ended).
		p.audio.Stop()
		p.closeRetired(0)
		p.unavailable(it, it.failErr)
	case it.err != nil && errors.Is(it.err, trackload.ErrUnavailable):
		p.audio.Stop()
		p.closeRetired(0)
		p.unavailable(it, it.err)
	case handover:
		p.adopt(it)
	case it.loaded != nil:
		p.play(it)
	default:
		// Resolving, waiting for a session, new, or a prefetch that
		// failed for a reason worth another try.
		it.err = nil
		p.audio.Stop()
		p.closeRetired(0)
		if it.cancel == nil && !it.waiting {
			p.startResolve(it)
		}
		if it.waiting && p.deadline == nil {
			p.deadline = p.cfg.After(p.cfg.SessionWait)
		}
	}
	p.note("load " + uri)
}

// adopt makes the enqueued item, which the audio player plays (or is about
// to) after the track that ended, the current one.
func (p *Player) adopt(it *item) {
	p.log.Debug("gapless hand-over", "uri", it.uri, "playback_id", it.pb)
	if it.posMs != 0 {
		p.audio.SeekMs(it.posMs)
		it.lastPos = it.posMs
	}
	if it.paused {
		p.audio.Pause()
	}
	switch {
	case it.ended:
		// Shorter than the state machine's reaction: it played through.
		p.report(connect.TrackStarted{PlaybackID: it.pb, PositionMs: 0, DurationMs: it.durMs})
		p.report(connect.TrackEnded{PlaybackID: it.pb})
		it.reported = true
	case it.started || it.paused:
		p.report(connect.TrackStarted{PlaybackID: it.pb, PositionMs: it.lastPos, DurationMs: it.durMs})
		it.reported = true
	}
	// Otherwise its TrackStarted is reported when its sound starts.
}

// play hands the resolved item to the audio player as a new instance.
func (p *Player) play(it *item) {
	p.seq++
	it.aseq = p.seq
	it.enqueued, it.decoding, it.started, it.ended, it.failErr, it.spoiled = false, false, false, false, nil, false
	it.lastPos = it.posMs
	if it.durMs == 0 {
		it.durMs = it.loaded.Meta.DurationMs
	}
	t := it.loaded.Track
	t.ID = audioID(it.base, it.aseq)
	p.audio.Load(t, !it.paused, it.posMs)
}

func (p *Player) seek(pos int64) {
	c := p.cur
	if c == nil {
		return
	}
	c.posMs = pos
	if c.aseq != 0 && c.failErr == nil {
		p.audio.SeekMs(pos)
	}
	p.note("seek")
}

func (p *Player) prefetch(uri string) {
	if p.next != nil && p.next.uri == uri {
		return
	}
	p.dropNext()
	p.hook(hooks.TrackEvent(hooks.Preloading, base62(uri)))
	it := &item{uri: uri, base: base62(uri)}
	p.next = it
	p.startResolve(it)
	p.note("prefetch " + uri)
}

// dropNext drops the prefetched item. If the audio player has it queued
// but not yet started on it, an empty track takes its place in the queue:
// the audio player cannot open it, reports TrackError (ignored: it is no
// item of ours) and ends the queue after the current track instead.
func (p *Player) dropNext() {
	n := p.next
	if n == nil {
		return
	}
	p.next = nil
	if c := p.cur; n.enqueued && c != nil && !c.done() {
		if n.decoding {
			p.spoil()
		} else {
			p.seq++
			p.audio.Enqueue(player.Track{ID: audioID("", p.seq)})
		}
	}
	p.retire(n)
}

func (p *Player) stop() {
	p.audio.Stop()
	for _, it := range []*item{p.cur, p.next} {
		if it != nil {
			it.close()
		}
	}
	p.cur, p.next, p.deadline = nil, nil, nil
	p.closeRetired(0)
}

// retire lets go of an item no longer current or prefetched. Its stream
// is closed at once unless the audio player may still read it: then when
// the audio player reports on a later instance (it reads tracks in the
// order it is given them), or at a Stop.
func (p *Player) retire(it *item) {
	if it == nil {
		return
	}
	if it.cancel != nil {
		it.cancel()
		it.cancel = nil
	}
	it.waiting = false
	if it.loaded == nil {
		return
	}
	if it.aseq == 0 || it.done() {
		it.close()
		return
	}
	p.retired = append(p.retired, it)
	// The bound: prefetches dropped one after another while the current
	// track plays give no audio event that would let them go. All but
	// the newest were displaced in the audio player's queue by a later
	// Enqueue, so it has not opened them.
	for len(p.retired) > maxRetired {
		p.retired[0].close()
		p.retired[0] = nil
		p.retired = p.retired[1:]
	}
}

// maxRetired bounds the streams held besides the current and prefetched
// ones.
const maxRetired = 2

// closeRetired closes the retired items of instances before seq (all of
// them for 0).
func (p *Player) closeRetired(seq uint64) {
	keep := p.retired[:0]
	for _, it := range p.retired {
		if seq == 0 || it.aseq < seq {
			it.close()
		} else {
			keep = append(keep, it)
		}
	}
	clear(p.retired[len(keep):])
	p.retired = keep
}

func (p *Player) useSession(c command) {
	p.sessGen++
	if c.sp == nil || c.conn == nil {
		p.resolver = nil
		for _, it := range []*item{p.cur, p.next} {
			if it != nil && it.cancel != nil {
				it.cancel()
				it.cancel = nil
				it.waiting = true
			}
		}
		if p.cur != nil && p.cur.waiting && p.deadline == nil {
			p.deadline = p.cfg.After(p.cfg.SessionWait)
		}
		p.note("session down")
		return
	}
	res, err := p.cfg.NewResolver(c.sp, c.conn)
	if err != nil {
		p.log.Error("cannot load tracks through this session", "err", err)
		res = failedResolver{fmt.Errorf("track loader: %w", err)}
	}
	p.resolver = res
	p.deadline = nil
	for _, it := range []*item{p.cur, p.next} {
		if it != nil && it.waiting {
			it.waiting = false
			p.startResolve(it)
		}
	}
	p.note("session up")
}

// startResolve resolves it through the session, or has it wait for one.
func (p *Player) startResolve(it *item) {
	if p.resolver == nil {
		it.waiting = true
		if it == p.cur && p.deadline == nil {
			p.deadline = p.cfg.After(p.cfg.SessionWait)
		}
		return
	}
	ctx, cancel := context.WithCancel(p.ctx)
	it.cancel = cancel
	it.resolveGen++
	r := resolveResult{it: it, gen: it.resolveGen, sess: p.sessGen}
	res, uri, prefetch := p.resolver, it.uri, it.pb == ""
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		r.loaded, r.err = res.Load(ctx, uri, prefetch)
		if r.err != nil {
			r.loaded = nil
		}
		select {
		case p.resolved <- r:
		case <-p.ctx.Done():
			_ = r.loaded.Close()
		}
	}()
}

func (p *Player) onResolved(r resolveResult) {
	it := r.it
	if r.gen != it.resolveGen || it.cancel == nil || (it != p.cur && it != p.next) {
		_ = r.loaded.Close() // dropped or cancelled meanwhile
		return
	}
	it.cancel()
	it.cancel = nil
	if r.err != nil {
		if !errors.Is(r.err, trackload.ErrUnavailable) && r.sess != p.sessGen {
			// The session went (or changed) under the resolve: again,
			// with the next one.
			p.startResolve(it)
			return
		}
		it.err = r.err
		if it == p.cur {
			p.unavailable(it, r.err)
		} else {
			p.log.Info("prefetch failed; a load will try again", "uri", it.uri, "err", r.err)
			p.note("prefetch failed " + it.uri)
		}
		return
	}
	it.loaded = r.loaded
	if it == p.cur {
		p.play(it)
	} else {
		p.maybeEnqueue()
	}
	p.note("resolved " + it.uri)
}

// spoil: the audio player decodes a dropped prefetch after the current
// item. The prefetch is not enqueued behind it; the state machine's Load
// after the current item's end plays it anew.
func (p *Player) spoil() {
	p.cur.spoiled = true
	if n := p.next; n != nil && n.enqueued {
		n.enqueued = false
	}
	p.note("spoiled")
}

// maybeEnqueue queues the prefetched item behind the current one once both
// are ready: the current one decoding (so the audio player follows it with
// the next without a gap) and not finished.
func (p *Player) maybeEnqueue() {
	c, n := p.cur, p.next
	if c == nil || n == nil || n.loaded == nil || n.enqueued || n.failErr != nil {
		return
	}
	if c.aseq == 0 || !c.decoding || c.done() || c.spoiled {
		return
	}
	p.seq++
	n.aseq = p.seq
	n.enqueued = true
	n.durMs = n.loaded.Meta.DurationMs
	t := n.loaded.Track
	t.ID = audioID(n.base, n.aseq)
	p.audio.Enqueue(t)
	p.note("enqueued " + n.uri)
}

func (p *Player) onAudio(ev player.Event) {
	_, seq := splitAudioID(ev.TrackID)
	if ev.Type == player.TrackDecoding || ev.Type == player.TrackError {
		// The decoder moved on to instance seq: it reads no earlier one.
		p.closeRetired(seq)
	}
	var it *item
	for _, x := range []*item{p.cur, p.next} {
		if x != nil && x.aseq != 0 && x.aseq == seq {
			it = x
		}
	}
	if it == nil {
		// An instance replaced meanwhile. If the decoder went on from the
		// current item to a prefetch dropped before we knew it had, that
		// one follows the current item now.
		if c := p.cur; ev.Type == player.TrackDecoding && c != nil && c.aseq != 0 && seq > c.aseq && !c.done() && !c.spoiled {
			p.spoil()
		}
		return
	}
	cur := it == p.cur && it.pb != ""
	if ev.DurationMs > 0 {
		it.durMs = ev.DurationMs
	}
	switch ev.Type {
	case player.TrackDecoding:
		it.decoding = true
		if cur && it.paused && !it.reported {
			// Held paused: no sound will start, but it is ready.
			p.report(connect.TrackStarted{PlaybackID: it.pb, PositionMs: ev.PositionMs, DurationMs: it.durMs})
			it.reported = true
		}
		p.maybeEnqueue()
	case player.TrackError:
		it.failErr = ev.Err
		if cur {
			p.unavailable(it, ev.Err)
		}
	case player.TrackStarted:
		it.started = true
		it.lastPos = ev.PositionMs
		switch {
		case !cur:
		case !it.reported:
			p.report(connect.TrackStarted{PlaybackID: it.pb, PositionMs: ev.PositionMs, DurationMs: it.durMs})
			it.reported = true
		default:
			p.report(connect.TrackPosition{PlaybackID: it.pb, PositionMs: ev.PositionMs})
		}
	case player.Position:
		it.lastPos = ev.PositionMs
		if cur && it.reported {
			p.reportPeriodic(connect.TrackPosition{PlaybackID: it.pb, PositionMs: ev.PositionMs})
		}
	case player.Paused, player.Resumed:
		it.lastPos = ev.PositionMs
		if cur && it.reported {
			p.report(connect.TrackPosition{PlaybackID: it.pb, PositionMs: ev.PositionMs})
		}
	case player.TrackEnded:
		it.ended = true
		if cur && it.reported {
			p.report(connect.TrackEnded{PlaybackID: it.pb})
		}
	}
}

// unavailable reports the current item as unplayable: the state machine
// skips it.
func (p *Player) unavailable(it *item, err error) {
	reason := err.Error()
	var ue *trackload.UnavailableError
	if errors.As(err, &ue) {
		reason = ue.Reason
		if ue.Err != nil {
			reason += ": " + ue.Err.Error()
		}
	}
	p.log.Warn("cannot play; skipping", "uri", it.uri, "reason", reason)
	p.hook(hooks.TrackEvent(hooks.Unavailable, it.base))
	p.report(connect.TrackUnavailable{PlaybackID: it.pb, Reason: reason})
	p.note("unavailable " + it.uri)
}

// report queues an event for the state machine.
func (p *Player) report(ev connect.Event) {
	p.outq = append(p.outq, ev)
	p.periodic = false
}

// reportPeriodic queues a periodic position, which replaces one queued
// just before it (a reader that lags gets the latest, not every one).
// Positions that re-anchor (a start, seek, pause, resume) are never
// replaced.
func (p *Player) reportPeriodic(ev connect.TrackPosition) {
	if n := len(p.outq); p.periodic && n > 0 {
		if last, ok := p.outq[n-1].(connect.TrackPosition); ok && last.PlaybackID == ev.PlaybackID {
			p.outq[n-1] = ev
			return
		}
	}
	p.report(ev)
	p.periodic = true
}

func (p *Player) hook(ev hooks.Event) {
	if p.cfg.Hooks != nil {
		p.cfg.Hooks.Emit(ev)
	}
}

// syncMeta publishes the metadata of the current and prefetched items for
// Describe, which runs on the audio player's goroutines.
func (p *Player) syncMeta() {
	var want [2]*trackload.Loaded
	var bases [2]string
	for i, it := range []*item{p.cur, p.next} {
		if it != nil {
			want[i], bases[i] = it.loaded, it.base
		}
	}
	if want == p.published {
		return
	}
	p.published = want
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	clear(p.metas)
	for i, l := range want {
		if l != nil {
			p.metas[bases[i]] = l.Meta
		}
	}
}

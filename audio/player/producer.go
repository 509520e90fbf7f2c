package player

import (
	"errors"
	"io"

	"github.com/speakerbox/speakerbox/audio/decode"
	"github.com/speakerbox/speakerbox/audio/ring"
)

// producer owns the decoder: it fills the ring from the current track and
// follows with the queued one at the exact sample where the current one
// ends. Only the producer goroutine touches it.
type producer struct {
	p *Player

	cur      *opened // nil: nothing to decode
	curTrack Track   // the track cur decodes (kept after it ends, for a seek back)
	next     *Track  // queued (gapless)
	instance uint64  // per loaded track; the same across seeks
	seq      uint64  // per segment
	buf      []float32
	pending  []float32 // decoded, not yet in the ring
	ended    bool      // the decoder has returned its last samples
	endErr   error     // and this error (nil: a clean end)
	gen      uint64    // flush generation of the command being handled
	// pendingEnd, when set, asks the next table update to end the open
	// segment (with that error): a track's end and its successor's start
	// are published together.
	pendingEnd *error
}

func (pr *producer) run() {
	p := pr.p
	for {
		answerPings(p.prodPing)
		select {
		case c := <-p.cmds:
			pr.handleAck(c)
			continue
		case <-p.ctx.Done():
			return
		default:
		}
		if pr.cur == nil {
			select {
			case c := <-p.cmds:
				pr.handleAck(c)
			case <-p.prodKick:
			case <-p.ctx.Done():
				return
			}
			continue
		}
		if len(pr.pending) == 0 && !pr.ended {
			n, err := pr.cur.dec.Read(pr.buf)
			pr.pending = pr.buf[:n]
			if err != nil {
				pr.ended = true
				if err != io.EOF {
					pr.endErr = err
				}
			}
		}
		if len(pr.pending) > 0 {
			n, err := p.ring.Write(pr.pending, p.prodKick)
			pr.pending = pr.pending[n:]
			if errors.Is(err, ring.ErrClosed) {
				return
			}
			if err != nil {
				continue // interrupted: look at the commands
			}
		}
		if len(pr.pending) == 0 && pr.ended {
			pr.finish(pr.endErr)
		}
	}
}

// endSegment ends the open segment where the ring is now. The caller holds
// the table lock.
func (pr *producer) endSegment(e *error) {
	if e == nil {
		return
	}
	pr.pendingEnd = nil
	t := &pr.p.table
	if n := len(t.segs); n > 0 && t.segs[n-1].end == openEnd {
		t.segs[n-1].end = pr.p.ring.WriteIndex()
		t.segs[n-1].failed = *e != nil
	}
}

func (pr *producer) closeCur() {
	pr.cur, pr.pending, pr.endErr, pr.ended = nil, nil, nil, false
}

// begin publishes the opened track o (or its opening error) as the segment
// the ring fills next. With flush, what the ring holds is dropped and the
// new audio is heard at once; without, it follows the ring's contents
// sample for sample (gapless).
func (pr *producer) begin(t Track, o opened, err error, flush, newInstance bool) {
	p := pr.p
	if newInstance {
		pr.instance++
	}
	pr.seq++
	p.table.mu.Lock()
	if flush {
		p.table.segs = p.table.segs[:0]
		p.table.flushGen = pr.gen
		p.ring.Flush()
	} else {
		// Gapless: the previous segment ends exactly where this one starts,
		// published together so that the output never sees the queue run
		// out in between.
		pr.endSegment(pr.pendingEnd)
	}
	if err == nil {
		pr.curTrack = t
		pr.cur = &o
		p.table.segs = append(p.table.segs, segment{
			seq: pr.seq, instance: pr.instance, track: t,
			start: p.ring.WriteIndex(), end: openEnd,
			rate: o.dec.Rate(), ch: o.dec.Channels(),
			norm:       p.cfg.Normalisation.Factor(o.norm, t.AlbumContext),
			firstFrame: o.dec.Position(), frames: o.dec.Length(),
		})
	} else if newInstance {
		pr.curTrack = Track{} // a later seek has no track to go back to
	}
	p.table.mu.Unlock()
	kick(p.outKick)
	if err != nil {
		p.log.Warn("track cannot be played", "track", t.ID, "err", err)
		p.emit(Event{Type: TrackError, TrackID: t.ID, Err: err})
	} else if newInstance {
		p.emit(Event{Type: TrackDecoding, TrackID: t.ID, PositionMs: ms(o.dec.Position(), o.dec.Rate()), DurationMs: ms(o.dec.Length(), o.dec.Rate())})
	}
}

// startAt opens t, positions it with seek and begins it.
func (pr *producer) startAt(t Track, seek func(*decode.Decoder) error, flush, newInstance bool) {
	pr.closeCur()
	o, err := openTrack(t)
	if err == nil {
		err = seek(o.dec)
	}
	pr.begin(t, o, err, flush, newInstance)
}

func (pr *producer) start(t Track, ms int64, flush, newInstance bool) {
	pr.startAt(t, func(d *decode.Decoder) error {
		if ms > 0 {
			return d.SeekMs(ms)
		}
		return nil
	}, flush, newInstance)
}

// finish ends the current track and moves to the queued one.
func (pr *producer) finish(err error) {
	p := pr.p
	if err != nil {
		p.log.Warn("track failed while decoding", "track", pr.curTrack.ID, "err", err)
		p.emit(Event{Type: TrackError, TrackID: pr.curTrack.ID, Err: err})
	}
	pr.closeCur()
	pr.pendingEnd = &err
	if pr.next != nil {
		t := *pr.next
		pr.next = nil
		pr.start(t, 0, false, true)
	}
	if pr.pendingEnd != nil {
		p.table.mu.Lock()
		pr.endSegment(pr.pendingEnd)
		p.table.mu.Unlock()
		kick(p.outKick)
	}
}

// handleAck carries out c, then marks its flush generation done even when
// there was nothing to flush (a seek with no track), so that the output
// never waits for a flush that will not come.
func (pr *producer) handleAck(c command) {
	p := pr.p
	if c.gen != 0 {
		pr.gen = c.gen
	}
	pr.handle(c)
	if c.gen == 0 {
		return
	}
	p.table.mu.Lock()
	if p.table.flushGen < c.gen {
		p.table.flushGen = c.gen
	}
	p.table.mu.Unlock()
	kick(p.outKick)
}

func (pr *producer) handle(c command) {
	p := pr.p
	switch c.kind {
	case cmdLoad:
		pr.next = nil
		pr.start(c.track, c.ms, true, true)
	case cmdEnqueue:
		if pr.cur != nil {
			t := c.track
			pr.next = &t
		} else {
			// Nothing decoding: it follows what the ring still holds.
			pr.start(c.track, 0, false, true)
		}
	case cmdSeek, cmdSeekFrame:
		pr.seek(c)
	case cmdStop:
		pr.next = nil
		pr.closeCur()
		pr.curTrack = Track{}
		p.table.mu.Lock()
		p.table.segs = p.table.segs[:0]
		p.table.flushGen = pr.gen
		p.ring.Flush()
		p.table.mu.Unlock()
		kick(p.outKick)
	}
}

// seek goes to a position in the track being heard. During the last
// buffer's length of a track that is not the one being decoded: then the
// heard one is reopened and the decoded one queued again.
func (pr *producer) seek(c command) {
	p := pr.p
	p.table.mu.Lock()
	var heard *segment
	if len(p.table.segs) > 0 {
		h := p.table.segs[0]
		heard = &h
	}
	p.table.mu.Unlock()
	to := func(d *decode.Decoder) error {
		if c.kind == cmdSeekFrame {
			return d.SeekFrame(c.frame)
		}
		return d.SeekMs(c.ms)
	}
	switch {
	case heard != nil && heard.instance == pr.instance && pr.cur != nil:
		o := *pr.cur
		pr.pending, pr.endErr, pr.ended = nil, nil, false
		pr.begin(pr.curTrack, o, to(o.dec), true, false)
	case heard != nil:
		if pr.cur != nil && heard.instance != pr.instance {
			t := pr.curTrack
			pr.next = &t
		}
		pr.instance = heard.instance
		pr.startAt(heard.track, to, true, false)
	case pr.curTrack.Source != nil:
		// The queue had ended: reopen the last track.
		pr.startAt(pr.curTrack, to, true, false)
	}
}

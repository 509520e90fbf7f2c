package player

import (
	"errors"
	"time"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/convert"
	"github.com/speakerbox/speakerbox/audio/gain"
	"github.com/speakerbox/speakerbox/audio/ring"
)

// out is the output goroutine's state. Only that goroutine touches it.
type out struct {
	p *Player

	sink     audio.Sink
	format   audio.Format // what the sink took
	srcRate  int
	srcCh    int
	conv     *convert.Converter
	ramp     gain.Ramp
	buf      []float32 // one period of ring samples
	bytes    []byte    // one period converted
	xruns    uint64
	volGen   uint64
	softVol  float32
	hwVolume audio.HardwareVolume

	cur      segment // segment being played; cur.seq == 0: none
	flushGen uint64
	// started is the instance of the track whose TrackStarted was sent (0:
	// none yet, or a Load, Seek or Stop came since): sound of any other
	// track that reaches the device starts it. resume says a pause
	// stopped the sound of that track: the next period written resumes it.
	started   uint64
	resume    bool
	failing   bool   // an OutputError paused the player; no Paused event for it
	ownFlush  uint64 // the flush generation dropOnPause asked for (not the caller's)
	nextPos   int64  // frame at which the next Position event is due
	ended     bool   // the queue ended (or was stopped): wait for new work
	pauseDone bool   // the current pause has dropped the device's audio
	lastFrame int64  // track frame after the last sample written to the sink
	silenceOn bool
	dry       bool // an under-run was counted; cleared by the next period written
	tickC     <-chan time.Time
	tickStop  func()
}

// output owns the sink: it takes periods from the ring, applies the gain,
// converts them and writes them to the sink, and reports what was played.
func (p *Player) output() {
	defer p.wg.Done()
	o := &out{p: p, volGen: ^uint64(0)}
	defer o.shutdown()
	for p.ctx.Err() == nil {
		o.step()
	}
}

func (o *out) shutdown() {
	o.stopSilence()
	if o.sink != nil {
		o.closeSink(SinkClosed)
	}
}

// step does one period's work, or one wait.
func (o *out) step() {
	p := o.p
	answerPings(p.outPing)
	if o.checkFlush() {
		// A flush is requested but not yet done by the producer: play
		// nothing until it is (it kicks us).
		select {
		case <-p.outKick:
		case <-p.ctx.Done():
		}
		return
	}
	if p.paused.Load() {
		if !o.pauseDone {
			o.pauseDone = true
			o.dropOnPause()
			o.paused()
		}
		o.idle(true)
		return
	}
	o.pauseDone = false
	if o.ended {
		if !o.hasWork() {
			o.idle(false)
			return
		}
		o.ended = false
	}
	// Before waiting on an empty ring, see whether the queue has ended: the
	// producer's wake-up for its end may have been taken by an earlier wait
	// (during a pause, say).
	if p.ring.Len() == 0 && o.queueEnded() {
		o.ended = true
		return
	}
	minSamples := max(o.cur.ch, 1)
	o.noteRing(minSamples)
	// A view of the ring's memory saves copying every period; the gain
	// glide, which writes, works on a copy.
	view, start, err := p.ring.PeekView(o.periodBuf(), minSamples, p.outKick)
	n := len(view)
	if errors.Is(err, ring.ErrClosed) {
		return
	}
	if errors.Is(err, ring.ErrInterrupted) {
		o.ended = o.queueEnded()
		return
	}
	o.stopSilence()
	seg, count, ok := o.lookup(start, n)
	if !ok {
		p.ring.Advance(count) // stale audio from before a flush
		return
	}
	if seg.seq != o.cur.seq {
		if !o.enter(seg) {
			return
		}
	}
	if o.sink == nil && !o.open() {
		return
	}
	frames := min(count/seg.ch, int(o.p.cfg.Period.Seconds()*float64(seg.rate)))
	if frames == 0 {
		return // a partial frame: Peek again with the segment's channel count
	}
	count = frames * seg.ch
	o.updateVolume()
	pcm := view[:count]
	// One multiply per sample: a steady gain rides along in the
	// conversion; only a glide takes a pass of its own, on a copy (the
	// ring's samples are played again if the sink fails).
	g, steady := o.ramp.Steady()
	if !steady {
		pcm = o.buf[:copy(o.buf, pcm)]
		o.ramp.Apply(pcm, seg.ch)
		g = 1
	}
	nb := o.conv.ConvertGain(o.bytes, pcm, g)
	if _, err := o.sink.Write(o.bytes[:nb]); err != nil {
		o.fail(err)
		return
	}
	p.ring.Advance(count)
	o.dry = false
	if p.closeOutput.Load() {
		o.closeOutputReset() // a CloseOutput while playing is moot
	}
	o.sounding(start, seg)
	o.played(start+uint64(count), seg)
	o.lastFrame = seg.firstFrame + int64(start+uint64(count)-seg.start)/int64(seg.ch)
	if x, ok := o.sink.(audio.XrunCounter); ok {
		if n := x.Xruns(); n > o.xruns {
			p.stats.xruns.Add(n - o.xruns)
			o.xruns = n
			p.emit(Event{Type: Xrun, TrackID: seg.track.ID, Xruns: n})
		}
	}
}

// periodBuf is the scratch buffer for the next Peek (and the copy a glide
// works on): one period of the current format (any format before the
// first track).
func (o *out) periodBuf() []float32 {
	rate, ch := o.cur.rate, o.cur.ch
	if rate == 0 {
		rate, ch = maxRate, 2
	}
	n := int(o.p.cfg.Period.Seconds()*float64(rate)) * ch
	if cap(o.buf) < n {
		o.buf = make([]float32, int(o.p.cfg.Period.Seconds()*maxRate)*2)
	}
	return o.buf[:n]
}

// checkFlush notices a flush (seek, load, stop) and drops what the device
// holds, so that the jump is heard at once.
// It reports whether a flush is requested that the producer has not done.
func (o *out) checkFlush() (waiting bool) {
	t := &o.p.table
	want := o.p.flushReq.Load()
	t.mu.Lock()
	g := t.flushGen
	t.mu.Unlock()
	if g == o.flushGen {
		return g != want
	}
	o.flushGen = g
	if g != o.ownFlush {
		// The caller's Load, Seek or Stop: what follows is a start, not a
		// resume, even if it is the same track.
		o.started, o.resume = 0, false
	}
	if o.sink != nil && !o.silenceOn {
		if err := o.sink.Pause(); err == nil {
			o.sink.Resume()
		}
	}
	o.cur.seq = 0 // the next segment starts a track even if it is the same
	return g != want
}

// lookup finds the segment of the sample at start. It returns how many of
// the n peeked samples belong to it, or, with ok false, how many are stale
// (before the first segment: flushed) and to be skipped.
func (o *out) lookup(start uint64, n int) (seg segment, count int, ok bool) {
	t := &o.p.table
	t.mu.Lock()
	defer t.mu.Unlock()
	// Drop segments that are played.
	k := 0
	for k < len(t.segs) && t.segs[k].end != openEnd && t.segs[k].end <= start {
		k++
	}
	if k > 0 {
		t.segs = append(t.segs[:0], t.segs[k:]...)
	}
	if len(t.segs) == 0 {
		return segment{}, n, false
	}
	s := t.segs[0]
	if start < s.start {
		return segment{}, int(min(uint64(n), s.start-start)), false
	}
	end := start + uint64(n)
	if s.end < end {
		end = s.end
	}
	return s, int(end - start), true
}

// dropOnPause makes a pause instant: the audio the device still holds is
// dropped, and the decoder is sent back to the first frame that was not
// heard (sample-accurate), so that resuming repeats and loses nothing. If
// the device's delay reaches back into the previous track, that track's
// last moments are not replayed.
func (o *out) dropOnPause() {
	p := o.p
	if o.sink == nil || o.cur.seq == 0 || o.silenceOn {
		return
	}
	d := o.sink.Delay()
	frames := int64(d.Seconds() * float64(o.cur.rate))
	if frames <= 0 {
		return
	}
	if err := o.sink.Pause(); err != nil {
		if errors.Is(err, audio.ErrCannotDrop) {
			// Everything written will be heard: the pause takes effect
			// after it, and resuming continues from there.
			p.setPosition(o.cur.track.ID, ms(o.lastFrame, o.cur.rate))
			return
		}
		p.log.Warn("drop audio on pause", "err", err)
		return
	}
	o.sink.Resume()
	heard := max(o.lastFrame-frames, o.cur.firstFrame)
	p.setPosition(o.cur.track.ID, ms(heard, o.cur.rate))
	gen := p.flushReq.Add(1)
	if gen == o.flushGen+1 {
		// Nothing came between the last flush we saw and ours: when this
		// generation is done, it is ours alone, and resuming after it
		// continues the track. (A caller's flush in between makes ours
		// look like theirs: a start, which it is.)
		o.ownFlush = gen
	}
	p.send(command{kind: cmdSeekFrame, frame: heard, gen: gen})
}

// paused reports that a pause stopped the sound of a track that was
// playing: the position is the first sample not heard.
func (o *out) paused() {
	failing := o.failing
	o.failing = false
	if o.started == 0 || o.started != o.cur.instance || o.resume {
		return
	}
	o.resume = true
	if failing {
		return // OutputError said it
	}
	id, pos := o.p.Position()
	o.p.emit(Event{Type: Paused, TrackID: id, PositionMs: pos, DurationMs: ms(o.cur.frames, o.cur.rate)})
}

// sounding is called after the period from ring index start of seg went
// to the device: the first one of a track starts it, the first one after
// a pause resumes it. So TrackStarted and Resumed come after the gate and
// SinkOpened, and mean what they say: sound is leaving the device.
func (o *out) sounding(start uint64, seg segment) {
	o.failing = false
	if o.started == seg.instance && !o.resume {
		return
	}
	frame := seg.firstFrame + int64(start-seg.start)/int64(seg.ch)
	typ := Resumed
	if o.started != seg.instance {
		typ = TrackStarted
		o.started = seg.instance
	}
	o.resume = false
	o.p.emit(Event{Type: typ, TrackID: seg.track.ID, PositionMs: ms(frame, seg.rate), DurationMs: ms(seg.frames, seg.rate)})
}

// enter switches to a new segment: a new track (events) or the same one
// after a seek; reopens the sink when the rate or channel count changes.
func (o *out) enter(seg segment) bool {
	p := o.p
	prev := o.cur
	o.cur = seg
	if prev.seq != 0 && prev.instance != seg.instance && !prev.failed && prev.instance == o.started {
		p.emit(Event{Type: TrackEnded, TrackID: prev.track.ID, PositionMs: ms(prev.frames, prev.rate), DurationMs: ms(prev.frames, prev.rate)})
	}
	if o.sink != nil && (seg.rate != o.srcRate || seg.ch != o.srcCh) {
		o.sink.Drain()
		o.closeSink(SinkTemporarilyClosed)
	}
	o.nextPos = seg.firstFrame
	p.setPosition(seg.track.ID, ms(seg.firstFrame, seg.rate))
	if o.sink != nil {
		o.ramp.SetTarget(o.softVol * seg.norm)
	}
	return true
}

func ms(frames int64, rate int) int64 {
	if rate == 0 {
		return 0
	}
	return frames * 1000 / int64(rate)
}

// open asks the gate, then opens the sink for the current segment's format.
func (o *out) open() bool {
	p := o.p
	o.closeOutputReset()
	if p.cfg.Gate != nil {
		if err := p.cfg.Gate.BeforeOpen(p.ctx); err != nil {
			if p.ctx.Err() == nil {
				o.fail(err)
			}
			return false
		}
	}
	s, err := p.cfg.NewSink()
	if err == nil {
		want := audio.Format{Rate: o.cur.rate, Channels: 2, Sample: p.cfg.Sample}
		var got audio.Format
		got, err = s.Open(want)
		if err == nil && got.Rate != want.Rate {
			s.Close()
			err = errors.New("sink changed the sample rate")
		}
		if err == nil {
			o.conv, err = convert.New(o.cur.ch, got, p.cfg.Dither)
			if err != nil {
				s.Close()
			}
		}
		if err == nil {
			o.sink, o.format = s, got
			o.p.stats.sinkFormat.Store(&got)
		}
	}
	if err != nil {
		if p.cfg.Gate != nil {
			p.cfg.Gate.AfterClose()
		}
		o.fail(err)
		return false
	}
	o.srcRate, o.srcCh = o.cur.rate, o.cur.ch
	frames := int(p.cfg.Period.Seconds() * maxRate)
	if need := frames * o.format.FrameBytes(); cap(o.bytes) < need {
		o.bytes = make([]byte, need)
	}
	o.hwVolume = nil
	if hv, ok := s.(audio.HardwareVolume); ok && p.cfg.HardwareVolume {
		o.hwVolume = hv
	}
	if x, ok := s.(audio.XrunCounter); ok {
		o.xruns = x.Xruns()
	}
	o.volGen = ^uint64(0)
	o.updateVolume()
	o.ramp = gain.NewRamp(o.cur.rate, p.cfg.Ramp, o.softVol*o.cur.norm)
	p.emit(Event{Type: SinkOpened, TrackID: o.cur.track.ID, Format: o.format})
	return true
}

func (o *out) closeOutputReset() { o.p.closeOutput.Store(false) }

// updateVolume picks up a SetVolume (once per period: an atomic load).
func (o *out) updateVolume() {
	p := o.p
	g := p.volumeGen.Load()
	if g == o.volGen {
		return
	}
	o.volGen = g
	v := uint16(p.volume.Load())
	if o.hwVolume != nil {
		if err := o.hwVolume.SetVolume(v); err != nil {
			p.log.Warn("hardware volume", "err", err)
		}
		o.softVol = 1
	} else {
		vol := p.cfg.Volume
		vol.MaxPercent = int(p.maxPercent.Load())
		o.softVol = vol.Gain(v)
	}
	o.ramp.SetTarget(o.softVol * o.cur.norm)
}

// played updates the position after the samples up to ring index end went
// to the sink.
func (o *out) played(end uint64, seg segment) {
	p := o.p
	frame := seg.firstFrame + int64(end-seg.start)/int64(seg.ch)
	heard := frame - int64(o.sink.Delay().Seconds()*float64(seg.rate))
	heard = max(heard, seg.firstFrame)
	pos := ms(heard, seg.rate)
	p.setPosition(seg.track.ID, pos) // every period: Position() is always current
	if frame >= o.nextPos {
		p.emit(Event{Type: Position, TrackID: seg.track.ID, PositionMs: pos, DurationMs: ms(seg.frames, seg.rate)})
		o.nextPos = frame + int64(p.cfg.PositionInterval.Seconds()*float64(seg.rate))
	}
}

// queueEnded reports whether everything queued has been played: the ring
// is empty and the last segment has ended. It then ends the track (after
// the device drained) and forgets it.
func (o *out) queueEnded() bool {
	p := o.p
	o.checkFlush()
	rd := p.ring.ReadIndex()
	t := &p.table
	t.mu.Lock()
	n := len(t.segs)
	done := p.ring.Len() == 0 && (n == 0 || (t.segs[n-1].end != openEnd && t.segs[n-1].end <= rd))
	var last segment
	if done && n > 0 {
		last = t.segs[n-1]
		t.segs = t.segs[:0]
	}
	t.mu.Unlock()
	if !done {
		return false
	}
	if o.cur.seq == 0 || n == 0 {
		o.cur.seq = 0
		return true // stopped, or nothing loaded
	}
	if o.sink != nil {
		o.sink.Drain()
	}
	if last.seq == 0 {
		last = o.cur
	}
	if !last.failed && last.instance == o.started {
		p.emit(Event{Type: TrackEnded, TrackID: last.track.ID, PositionMs: ms(last.frames, last.rate), DurationMs: ms(last.frames, last.rate)})
	}
	// The device goes idle before the queue's end is reported: whoever
	// starts a timer on EndOfQueue (the amplifier's idle timeout) finds
	// the device closed (or on silence) already, whatever the scheduling.
	o.settle()
	p.emit(Event{Type: EndOfQueue, TrackID: last.track.ID})
	o.cur = segment{rate: o.cur.rate, ch: o.cur.ch}
	o.started, o.resume = 0, false
	return true
}

// idle runs while nothing plays (paused, or the queue ended): it keeps the
// device running on silence with KeepOutputOpen until CloseOutput, or
// closes it, and waits for something to do.
func (o *out) idle(paused bool) {
	p := o.p
	o.settle()
	if !paused && o.hasWork() {
		return
	}
	select {
	case <-p.outKick:
	case <-o.tickC:
		o.writeSilence()
	case <-p.ctx.Done():
	}
}

// settle puts the device in its idle state: closed, or running on silence
// with KeepOutputOpen until CloseOutput.
func (o *out) settle() {
	p := o.p
	if o.sink == nil {
		return
	}
	switch {
	case p.closeOutput.Load():
		o.stopSilence()
		o.sink.Drain()
		o.closeSink(SinkClosed)
	case p.cfg.KeepOutputOpen:
		o.startSilence()
	default:
		o.sink.Drain()
		o.closeSink(SinkTemporarilyClosed)
	}
}

// hasWork says the producer published a new segment.
func (o *out) hasWork() bool {
	t := &o.p.table
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.segs) > 0
}

func (o *out) startSilence() {
	if o.silenceOn {
		return
	}
	o.silenceOn = true
	o.tickC, o.tickStop = o.p.cfg.Tick(o.p.cfg.Period)
}

func (o *out) stopSilence() {
	if !o.silenceOn {
		return
	}
	o.silenceOn = false
	o.tickStop()
	o.tickC, o.tickStop = nil, nil
	// Drop the silence queued in the device so that sound resumes at once.
	if o.sink != nil {
		if err := o.sink.Pause(); err == nil {
			o.sink.Resume()
		}
	}
}

// writeSilence tops the device up with silence: one period per tick while
// the device holds less than three periods (so a clockless sink gets one
// period per tick, and a real device never runs dry).
func (o *out) writeSilence() {
	if o.sink == nil {
		return
	}
	period := o.p.cfg.Period
	for i := 0; i < 2 && o.sink.Delay() < 3*period; i++ {
		frames := int(period.Seconds() * float64(o.format.Rate))
		b := o.bytes[:frames*o.format.FrameBytes()]
		clear(b)
		if _, err := o.sink.Write(b); err != nil {
			o.fail(err)
			return
		}
		if o.sink.Delay() == 0 {
			break // clockless: one period per tick is enough
		}
	}
}

func (o *out) closeSink(ev EventType) {
	p := o.p
	o.stopSilenceNoDrop()
	if err := o.sink.Close(); err != nil {
		p.log.Warn("close audio output", "err", err)
	}
	o.sink, o.conv, o.hwVolume = nil, nil, nil
	p.stats.sinkFormat.Store(nil)
	if p.cfg.Gate != nil {
		p.cfg.Gate.AfterClose()
	}
	p.emit(Event{Type: ev})
}

func (o *out) stopSilenceNoDrop() {
	if o.silenceOn {
		o.silenceOn = false
		o.tickStop()
		o.tickC, o.tickStop = nil, nil
	}
}

// fail reports an output error and pauses: the receiver decides what next.
// The event is the report: its owner logs it or returns it (logging it here
// as well had `speakerbox play` print the same error twice).
func (o *out) fail(err error) {
	p := o.p
	p.paused.Store(true)
	o.failing = true // the pause that follows is this error's, reported as such
	if o.sink != nil {
		o.closeSink(SinkTemporarilyClosed)
	}
	p.emit(Event{Type: OutputError, TrackID: o.cur.track.ID, Err: err})
}

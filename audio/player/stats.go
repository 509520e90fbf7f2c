package player

import (
	"sync/atomic"
	"time"

	"github.com/speakerbox/speakerbox/audio"
)

// Stats is a snapshot of the player's counters, for metrics. Every field
// only grows, except BufferFill.
type Stats struct {
	// Underruns counts the times the ring ran dry while a track was
	// sounding: the decoder (or the network under it) did not keep up and
	// the device was left waiting. Starts, seeks, resumes and the end of
	// the queue are not under-runs.
	Underruns uint64
	// Xruns counts the device's own under-runs (ALSA), over every sink the
	// player opened.
	Xruns uint64
	// BufferFill is how full the ring is, 0..1.
	BufferFill float64
	// DecodeTime is the time spent in the decoder's Read, which includes
	// waiting for the source (the download): together with DecodedAudio it
	// says whether the producer keeps ahead of real time.
	DecodeTime time.Duration
	// DecodedAudio is the length of the audio decoded.
	DecodedAudio time.Duration
	// Format is what the open sink took (the device's negotiated format);
	// the zero Format while no sink is open.
	Format audio.Format
}

// counters are the player's atomics behind Stats: written on the audio
// goroutines with one atomic add each (no allocation), read from any.
type counters struct {
	underruns    atomic.Uint64
	xruns        atomic.Uint64
	decodeNanos  atomic.Uint64
	decodedNanos atomic.Uint64
	// sinkFormat is stored at each open and cleared at close, never per
	// period.
	sinkFormat atomic.Pointer[audio.Format]
}

// Stats returns the counters; safe from any goroutine.
func (p *Player) Stats() Stats {
	st := Stats{
		Underruns:    p.stats.underruns.Load(),
		Xruns:        p.stats.xruns.Load(),
		BufferFill:   float64(p.ring.Len()) / float64(p.ring.Cap()),
		DecodeTime:   time.Duration(p.stats.decodeNanos.Load()),
		DecodedAudio: time.Duration(p.stats.decodedNanos.Load()),
	}
	if f := p.stats.sinkFormat.Load(); f != nil {
		st.Format = *f
	}
	return st
}

// noteDecode counts one decoder Read that took took and returned samples
// samples of audio at rate and channels.
func (c *counters) noteDecode(took time.Duration, samples, rate, channels int) {
	c.decodeNanos.Add(uint64(max(took, 0)))
	if rate > 0 && channels > 0 && samples > 0 {
		c.decodedNanos.Add(uint64(samples/channels) * uint64(time.Second) / uint64(rate))
	}
}

// noteRing is called by the output before it waits for minSamples from
// the ring: if a track is sounding and the ring cannot give them, the
// device is about to starve, an under-run (counted once until the next
// period is written: see wrote).
//
// Only a sink that can under-run (audio.XrunCounter: a device with a
// clock) counts: a clockless sink (null, WAV) drains the ring as fast as
// the decoder fills it, and that is no gap anyone hears.
func (o *out) noteRing(minSamples int) {
	if o.dry || o.sink == nil || o.started == 0 || o.started != o.cur.instance || o.resume {
		return
	}
	if _, clocked := o.sink.(audio.XrunCounter); !clocked {
		return
	}
	if o.p.ring.Len() < minSamples {
		o.dry = true
		o.p.stats.underruns.Add(1)
	}
}

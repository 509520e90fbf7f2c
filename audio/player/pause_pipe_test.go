package player

import (
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/audiotest"
)

// pipeLikeSink holds 100 ms that it cannot take back, as a FIFO does.
type pipeLikeSink struct{ memSink }

func (s *pipeLikeSink) Pause() error {
	_ = s.memSink.Pause()
	return audio.ErrCannotDrop
}

// TestPauseOnAPipeRepeatsNothing: a sink whose Pause cannot drop what it
// holds (a pipe: the reader has it) plays all of it, so the pause takes
// effect after it and resuming goes on from there. The decoder used to be
// sent back by the sink's delay as if the device had dropped it, and the
// reader heard those 100 ms twice.
func TestPauseOnAPipeRepeatsNothing(t *testing.T) {
	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}))
	all := decodeAll(t, b)
	s := &pipeLikeSink{memSink{delay: 100 * time.Millisecond, block: make(chan struct{})}}
	cfg := exactConfig(&s.memSink)
	cfg.NewSink = func() (audio.Sink, error) { return s, nil }
	p := newPlayer(t, cfg)
	p.Load(plainTrack(t, "t", b), true, 0)
	for i := 0; i < 50; i++ {
		s.block <- struct{}{}
	}
	p.Pause()
	var seen []Event
	timeout := time.After(30 * time.Second) // a guard against a hang
wait:
	for {
		select {
		case s.block <- struct{}{}:
		case e := <-p.Events():
			seen = append(seen, e)
			if e.Type == SinkTemporarilyClosed {
				break wait
			}
		case <-timeout:
			t.Fatalf("pause did not close the sink; events %v", seen)
		}
	}
	got, _ := s.snapshot()
	// Position: everything written, since the reader plays all of it.
	frames := int64(len(got) / 8)
	if _, pos := p.Position(); pos != frames*1000/44100 {
		t.Fatalf("position %d ms after pause, written %d frames (%d ms)", pos, frames, frames*1000/44100)
	}
	p.Play()
	stop := feed(&s.memSink)
	waitFor(t, p, EndOfQueue, &seen)
	stop()
	got, _ = s.snapshot()
	compareFloats(t, floats(got), all, "paused and resumed on a pipe")
}

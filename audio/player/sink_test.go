package player

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/speakerbox/speakerbox/audio"
)

// memSink records what it is given. It has no clock unless block is set.
type memSink struct {
	mu      sync.Mutex
	sample  audio.SampleFormat // forced sample format (0: take what is asked)
	opened  audio.Format
	data    []byte
	chunks  []int // sizes of the writes, in bytes
	opens   int
	closes  int
	pauses  int
	drains  int
	delay   time.Duration
	holds   bool // like a device: Pause drops the last delay's worth of what was written
	failErr error
	block   chan struct{} // when set, every Write waits for a token
	log     *[]string     // shared with the gate, to check the order of calls
}

func (s *memSink) note(x string) {
	if s.log != nil {
		*s.log = append(*s.log, x)
	}
}

func (s *memSink) Open(want audio.Format) (audio.Format, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if want.Sample == 0 || want.Rate == 0 {
		return audio.Format{}, errors.New("bad format")
	}
	if s.sample != 0 {
		want.Sample = s.sample
	}
	s.opened = want
	s.opens++
	s.note("sink open")
	return want, nil
}

func (s *memSink) Write(p []byte) (int, error) {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failErr != nil {
		return 0, s.failErr
	}
	s.data = append(s.data, p...)
	s.chunks = append(s.chunks, len(p))
	return len(p), nil
}

func (s *memSink) Pause() error {
	s.mu.Lock()
	s.pauses++
	if s.holds {
		n := int(s.delay.Seconds()*float64(s.opened.Rate)) * s.opened.FrameBytes()
		s.data = s.data[:len(s.data)-min(n, len(s.data))]
	}
	s.mu.Unlock()
	return nil
}
func (s *memSink) Resume() error { return nil }
func (s *memSink) Drain() error {
	s.mu.Lock()
	s.drains++
	s.mu.Unlock()
	return nil
}
func (s *memSink) Delay() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delay
}
func (s *memSink) Close() error {
	s.mu.Lock()
	s.closes++
	s.note("sink close")
	s.mu.Unlock()
	return nil
}

func (s *memSink) snapshot() ([]byte, []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.data...), append([]int(nil), s.chunks...)
}

// gate records its calls; BeforeOpen waits for release when it is set.
type gate struct {
	mu      sync.Mutex
	log     *[]string
	entered chan struct{}
	release chan struct{}
}

func (g *gate) BeforeOpen(ctx context.Context) error {
	g.mu.Lock()
	*g.log = append(*g.log, "gate open")
	g.mu.Unlock()
	if g.entered != nil {
		g.entered <- struct{}{}
	}
	if g.release != nil {
		select {
		case <-g.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (g *gate) AfterClose() {
	g.mu.Lock()
	*g.log = append(*g.log, "gate closed")
	g.mu.Unlock()
}

// wedgeSink is a device that hangs: the first Write it gets says so on
// entered and never returns until release is closed.
type wedgeSink struct {
	memSink
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *wedgeSink) Write(p []byte) (int, error) {
	s.once.Do(func() { close(s.entered) })
	<-s.release
	return s.memSink.Write(p)
}

package audio

import (
	"fmt"
	"time"
)

// NullSink discards audio as fast as it comes: for tests and benchmarks of
// the pipeline, and for receivers that should play nothing.
type NullSink struct {
	format Format
	open   bool
	bytes  uint64
}

var _ Sink = (*NullSink)(nil)

// NewNullSink returns a sink that takes any format and plays nothing.
func NewNullSink() *NullSink { return &NullSink{} }

// Open accepts want unchanged.
func (s *NullSink) Open(want Format) (Format, error) {
	if err := checkSinkFormat(want); err != nil {
		return Format{}, fmt.Errorf("open null sink: %w", err)
	}
	s.format, s.open = want, true
	return want, nil
}

// Write takes whole frames at once.
func (s *NullSink) Write(p []byte) (int, error) {
	if !s.open {
		return 0, fmt.Errorf("write to null sink: not open")
	}
	if err := checkWholeFrames(p, s.format); err != nil {
		return 0, fmt.Errorf("write to null sink: %w", err)
	}
	s.bytes += uint64(len(p))
	return len(p), nil
}

// Bytes is how much was written since NewNullSink.
func (s *NullSink) Bytes() uint64 { return s.bytes }

func (s *NullSink) Pause() error         { return nil }
func (s *NullSink) Resume() error        { return nil }
func (s *NullSink) Drain() error         { return nil }
func (s *NullSink) Delay() time.Duration { return 0 }
func (s *NullSink) Close() error         { s.open = false; return nil }

// validFormat rejects formats no sink can take.
func checkSinkFormat(f Format) error {
	if f.Rate <= 0 || f.Rate > 768000 || f.Channels <= 0 || f.Channels > 32 || f.Sample.BytesPerSample() == 0 {
		return fmt.Errorf("invalid format %s", f)
	}
	return nil
}

func checkWholeFrames(p []byte, f Format) error {
	if fb := f.FrameBytes(); len(p)%fb != 0 {
		return fmt.Errorf("%d bytes is not a whole number of %d-byte frames", len(p), fb)
	}
	return nil
}

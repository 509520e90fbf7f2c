package audio

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Checker is implemented by sinks that can tell whether they could play,
// without making a sound and without creating or changing any file. It is
// for a sink that is not open. `speakerbox doctor audio` asks it, and so
// does the receiver at start.
type Checker interface {
	// Check returns one line saying what the output is and that it can
	// take CDStereo, or an error that says what is wrong and what to do.
	Check(ctx context.Context) (string, error)
}

// CDStereo is what Check asks of an output: 44.1 kHz stereo, 16 bits, the
// format most music comes in.
func CDStereo() Format { return Format{Rate: 44100, Channels: 2, Sample: S16LE} }

var (
	_ Checker = (*NullSink)(nil)
	_ Checker = (*WAVSink)(nil)
	_ Checker = (*PipeSink)(nil)
)

// Check: the null sink always could.
func (s *NullSink) Check(ctx context.Context) (string, error) {
	return "plays nothing: audio is discarded", nil
}

// Check looks at the directory only: opening would create or truncate the
// file.
func (s *WAVSink) Check(ctx context.Context) (string, error) {
	if s.path == "-" || s.path == "" {
		return "WAV to standard output", nil
	}
	dir := filepath.Dir(s.path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("WAV file %q: directory %q does not exist; create it or choose another path", s.path, dir)
	}
	return fmt.Sprintf("WAV file %s (written as fast as the pipeline runs)", s.path), nil
}

// Check opens a FIFO once (and closes it) to see that a reader is there; a
// regular file is left alone, since opening it would truncate it.
func (s *PipeSink) Check(ctx context.Context) (string, error) {
	if s.path == "-" || s.path == "" {
		return fmt.Sprintf("raw PCM (%s, stereo) to standard output", s.sample), nil
	}
	st, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("pipe %q does not exist: create the FIFO with mkfifo, or let snapserver create it", s.path)
	}
	if err != nil {
		return "", fmt.Errorf("pipe %q: %w", s.path, err)
	}
	if st.Mode()&fs.ModeNamedPipe == 0 {
		return fmt.Sprintf("raw PCM into the regular file %s (not a FIFO: no pacing)", s.path), nil
	}
	got, err := s.Open(CDStereo())
	if err != nil {
		return "", err
	}
	defer s.Close()
	return fmt.Sprintf("raw PCM %s into the FIFO %s, which has a reader", got, s.path), nil
}

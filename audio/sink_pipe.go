package audio

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// PipeSink writes raw interleaved PCM to standard output or to a FIFO, the
// way snapcast's pipe source reads it (by default S16_LE, 44100:16:2). With
// a reader on the other end it runs at the reader's pace; to a regular file
// it runs as fast as the pipeline allows.
type PipeSink struct {
	path   string
	sample SampleFormat
	log    *slog.Logger

	f       *os.File
	format  Format
	isFIFO  bool
	ownFile bool // false for standard output, which we do not close

	raw        syscall.RawConn
	readQueued func(fd uintptr)
	queued     int
	qerr       error

	// live is f while open, for Interrupt, which runs on another
	// goroutine; interrupted is set by Interrupt and never cleared.
	live        atomic.Pointer[os.File]
	interrupted atomic.Bool
}

var (
	_ Sink        = (*PipeSink)(nil)
	_ Interrupter = (*PipeSink)(nil)
)

// Interrupter is implemented by sinks whose Write can block for as long as
// someone else decides (a pipe nobody reads). Interrupt makes a Write
// blocked now, and every later Write and Open, fail at once with an error
// that wraps ErrInterrupted, so that shutdown does not wait for the reader.
// It may be called from any goroutine, at any time, more than once.
type Interrupter interface {
	Interrupt()
}

// ErrInterrupted is wrapped by the errors of a sink after Interrupt.
var ErrInterrupted = errors.New("output interrupted (shutting down)")

// NewPipeSink returns a pipe sink for path ("-" is standard output).
// sample 0 means S16_LE, the format snapcast expects unless told otherwise.
func NewPipeSink(path string, sample SampleFormat, log *slog.Logger) *PipeSink {
	if sample == 0 {
		sample = S16LE
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &PipeSink{path: path, sample: sample, log: log}
}

// Open opens the pipe. The output is always stereo at the caller's rate in
// the configured sample format. A FIFO with no reader is an error, not a
// wait: a speaker that blocks silently while "playing" helps nobody.
func (s *PipeSink) Open(want Format) (Format, error) {
	if err := checkSinkFormat(want); err != nil {
		return Format{}, fmt.Errorf("open pipe %q: %w", s.path, err)
	}
	if s.interrupted.Load() {
		return Format{}, fmt.Errorf("open pipe %q: %w", s.path, ErrInterrupted)
	}
	got := Format{Rate: want.Rate, Channels: 2, Sample: s.sample}
	if s.f != nil {
		if got != s.format {
			return Format{}, fmt.Errorf("pipe %q: format changed from %s to %s while open; the reader cannot follow", s.path, s.format, got)
		}
		return got, nil
	}
	if s.path == "-" || s.path == "" {
		s.f, s.ownFile = os.Stdout, false
		st, err := os.Stdout.Stat()
		s.isFIFO = err == nil && st.Mode()&fs.ModeNamedPipe != 0
		if s.isFIFO {
			// Standard output is in blocking mode, and a blocking write
			// to a pipe nobody reads cannot be interrupted: not even by
			// closing the file. Write through a non-blocking duplicate
			// instead, so Go's poller waits for the reader and Interrupt
			// can wake it with a deadline.
			if f, err := nonBlockingDup(syscall.Stdout, "standard output"); err == nil {
				s.f, s.ownFile = f, true
			} else {
				s.log.Warn("pipe sink: standard output stays in blocking mode; shutdown may wait for the reader", "err", err)
			}
		}
	} else {
		st, err := os.Stat(s.path)
		if errors.Is(err, fs.ErrNotExist) {
			// Creating a regular file here would fill the disk with
			// raw audio by surprise.
			return Format{}, fmt.Errorf("open pipe %q: it does not exist; create it with mkfifo (or let snapserver create it): %w", s.path, err)
		}
		if err != nil {
			return Format{}, fmt.Errorf("open pipe %q: %w", s.path, err)
		}
		flags := os.O_WRONLY
		if st.Mode()&fs.ModeNamedPipe != 0 {
			// Non-blocking open fails with ENXIO when nobody reads;
			// Go's poller still makes each Write wait for the reader.
			flags |= syscall.O_NONBLOCK
			s.isFIFO = true
		} else {
			flags |= os.O_TRUNC
		}
		f, err := os.OpenFile(s.path, flags, 0)
		if errors.Is(err, syscall.ENXIO) {
			return Format{}, fmt.Errorf("open pipe %q: nobody is reading it (is snapserver running?): %w", s.path, err)
		}
		if err != nil {
			return Format{}, fmt.Errorf("open pipe %q: %w", s.path, err)
		}
		s.f, s.ownFile = f, true
	}
	s.format = got
	s.live.Store(s.f)
	if s.interrupted.Load() {
		// Interrupt came while we were opening: it saw no file.
		_ = s.f.SetWriteDeadline(time.Unix(1, 0))
	}
	if s.isFIFO {
		if rc, err := s.f.SyscallConn(); err == nil {
			s.raw = rc
			s.readQueued = func(fd uintptr) { s.queued, s.qerr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) } // FIONREAD
		}
	}
	s.log.Info("pipe sink open", "path", s.path, "format", got.String(), "fifo", s.isFIFO)
	return got, nil
}

// Write blocks until the reader has taken room for p.
func (s *PipeSink) Write(p []byte) (int, error) {
	if s.f == nil {
		return 0, fmt.Errorf("write to pipe %q: not open", s.path)
	}
	if err := checkWholeFrames(p, s.format); err != nil {
		return 0, fmt.Errorf("write to pipe %q: %w", s.path, err)
	}
	if s.interrupted.Load() {
		return 0, fmt.Errorf("write to pipe %q: %w", s.path, ErrInterrupted)
	}
	n, err := s.f.Write(p)
	if errors.Is(err, os.ErrDeadlineExceeded) && s.interrupted.Load() {
		return n, fmt.Errorf("write to pipe %q: %w", s.path, ErrInterrupted)
	}
	if errors.Is(err, syscall.EPIPE) {
		return n, fmt.Errorf("write to pipe %q: the reader went away: %w", s.path, err)
	}
	if err != nil {
		return n, fmt.Errorf("write to pipe %q: %w", s.path, err)
	}
	return n, nil
}

// Interrupt implements Interrupter. A deadline in the past wakes a Write
// waiting in Go's poller (FIFOs are opened non-blocking, standard output is
// written through a non-blocking duplicate); a write to a regular file
// never waits for anyone, so it needs no waking.
func (s *PipeSink) Interrupt() {
	s.interrupted.Store(true)
	if f := s.live.Load(); f != nil {
		// ErrNoDeadline (a file outside the poller) and ErrClosed (a
		// Close in between) both leave nothing to wake.
		_ = f.SetWriteDeadline(time.Unix(1, 0))
	}
}

// Pause cannot drop anything: what sits in the pipe belongs to the reader
// now, and will be played. It says so (ErrCannotDrop), so that a pause
// does not send the decoder back over audio the reader has, which would be
// heard twice. Resume has nothing to do.
func (s *PipeSink) Pause() error  { return ErrCannotDrop }
func (s *PipeSink) Resume() error { return nil }

// Drain cannot know when the reader has played what it read; it only makes
// sure nothing is held on our side (there is no buffer here).
func (s *PipeSink) Drain() error { return nil }

// Delay is what sits in the pipe, not yet read.
func (s *PipeSink) Delay() time.Duration {
	if s.f == nil || !s.isFIFO {
		return 0
	}
	// Through the RawConn, not Fd: Fd would switch the file to blocking
	// mode. The callback is made once at Open so Delay allocates nothing.
	if s.raw == nil || s.raw.Control(s.readQueued) != nil || s.qerr != nil || s.queued <= 0 {
		return 0
	}
	n := s.queued
	return time.Duration(int64(n) / int64(s.format.FrameBytes()) * int64(time.Second) / int64(s.format.Rate))
}

// Close closes the pipe (standard output stays open).
func (s *PipeSink) Close() error {
	if s.f == nil {
		return nil
	}
	f := s.f
	s.live.Store(nil)
	if s.raw != nil && f != os.Stdout {
		// The duplicate of standard output shares its file status flags
		// with it, and with whoever else holds the pipe: leave it in
		// blocking mode, as we found it (harmless for a FIFO we opened).
		_ = s.raw.Control(func(fd uintptr) { _ = unix.SetNonblock(int(fd), false) })
	}
	s.f, s.raw = nil, nil
	if !s.ownFile {
		return nil
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close pipe %q: %w", s.path, err)
	}
	return nil
}

// nonBlockingDup returns a new *os.File on a duplicate of fd, switched to
// non-blocking mode so that os.NewFile hands it to Go's poller.
func nonBlockingDup(fd int, name string) (*os.File, error) {
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicate %s: %w", name, err)
	}
	if err := unix.SetNonblock(d, true); err != nil {
		unix.Close(d)
		return nil, fmt.Errorf("make %s non-blocking: %w", name, err)
	}
	return os.NewFile(uintptr(d), name), nil
}

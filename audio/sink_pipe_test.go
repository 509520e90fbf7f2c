package audio

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func mkfifo(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "snapfifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var cdFormat = Format{Rate: 44100, Channels: 2, Sample: S16LE}

func TestPipeSinkIntoFIFOReadByAGoroutine(t *testing.T) {
	path := mkfifo(t)
	s := NewPipeSink(path, 0, nil)

	// No reader yet: an error that says so, not a hang.
	if _, err := s.Open(cdFormat); err == nil || !strings.Contains(err.Error(), "nobody is reading") {
		t.Fatalf("Open without a reader: %v", err)
	}

	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Open(Format{Rate: 44100, Channels: 1, Sample: FloatLE})
	if err != nil {
		t.Fatal(err)
	}
	if got != cdFormat {
		t.Fatalf("Open = %s, want snapcast's default %s", got, cdFormat)
	}

	// Written but not yet read: the delay is what sits in the pipe.
	first := testPCM(got, 1024, 5)
	if _, err := s.Write(first); err != nil {
		t.Fatal(err)
	}
	if d := s.Delay(); d != 1024*time.Second/44100 {
		t.Errorf("Delay = %v with 1024 frames in the pipe, want %v", d, 1024*time.Second/44100)
	}

	// Much more than the pipe holds (64 KiB): Write must wait for the
	// reader and lose nothing.
	var wg sync.WaitGroup
	var read bytes.Buffer
	var readErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, readErr = io.Copy(&read, r)
	}()
	second := testPCM(got, 100000, 9)
	if n, err := s.Write(second); err != nil || n != len(second) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	r.Close()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if !bytes.Equal(read.Bytes(), append(first, second...)) {
		t.Errorf("reader got %d bytes, want exactly the %d written", read.Len(), len(first)+len(second))
	}
}

func TestPipeSinkReaderGoesAway(t *testing.T) {
	path := mkfifo(t)
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := NewPipeSink(path, S32LE, nil)
	got, err := s.Open(cdFormat)
	if err != nil {
		t.Fatal(err)
	}
	if got.Sample != S32LE {
		t.Errorf("configured S32_LE, got %s", got.Sample)
	}
	r.Close()
	_, err = s.Write(testPCM(got, 16, 0))
	if !errors.Is(err, syscall.EPIPE) || !strings.Contains(err.Error(), "reader went away") {
		t.Errorf("err = %v", err)
	}
	s.Close()
}

// A separate process reads the FIFO, as snapserver would.
func TestPipeSinkIntoFIFOReadByAProcess(t *testing.T) {
	path := mkfifo(t)
	out := filepath.Join(t.TempDir(), "captured.raw")
	cmd := exec.Command("sh", "-c", `cat "$1" > "$2"`, "sh", path, out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := NewPipeSink(path, 0, nil)
	// The reader process opens the FIFO when it gets to it.
	var err error
	for range 500 {
		if _, err = s.Open(cdFormat); err == nil || !errors.Is(err, syscall.ENXIO) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	data := testPCM(cdFormat, 44100, 3) // one second of audio
	if _, err := s.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("process read %d bytes (%v), want the %d written", len(got), err, len(data))
	}
}

func TestPipeSinkPathChecks(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewPipeSink(filepath.Join(dir, "missing"), 0, nil).Open(cdFormat); err == nil || !strings.Contains(err.Error(), "mkfifo") {
		t.Errorf("missing FIFO: %v", err)
	}
	// A regular file is written as fast as the pipeline goes, from the
	// start (truncated).
	file := filepath.Join(dir, "raw.pcm")
	os.WriteFile(file, []byte("old contents that must go"), 0o644)
	s := NewPipeSink(file, 0, nil)
	if _, err := s.Open(cdFormat); err != nil {
		t.Fatal(err)
	}
	data := testPCM(cdFormat, 10, 1)
	s.Write(data)
	if s.Delay() != 0 {
		t.Error("a regular file has no delay")
	}
	s.Close()
	if got, _ := os.ReadFile(file); !bytes.Equal(got, data) {
		t.Errorf("file holds %q", got)
	}
	if _, err := s.Write(data); err == nil {
		t.Error("write after close")
	}
}

// waitPipeFull returns once the pipe behind r holds its whole capacity: a
// writer with more to write is then blocked. (A condition polled, not a
// time waited: the writer goroutine fills the pipe at its own pace.)
func waitPipeFull(t *testing.T, r *os.File) {
	t.Helper()
	rc, err := r.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for {
		var size, queued int
		var cerr error
		if err := rc.Control(func(fd uintptr) {
			if size, cerr = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); cerr == nil {
				queued, cerr = unix.IoctlGetInt(int(fd), unix.TIOCINQ)
			}
		}); err != nil || cerr != nil {
			t.Fatal(err, cerr)
		}
		if queued >= size {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// A Write blocked on a FIFO nobody reads returns at once, with
// ErrInterrupted, when Interrupt is called from another goroutine; later
// Writes and Opens fail the same way, and Close still works.
func TestPipeSinkInterruptWakesBlockedWrite(t *testing.T) {
	path := mkfifo(t)
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0) // never read
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := NewPipeSink(path, 0, nil)
	got, err := s.Open(cdFormat)
	if err != nil {
		t.Fatal(err)
	}
	data := testPCM(got, 1<<18, 7) // 1 MiB: far more than the pipe holds
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.Write(data)
		done <- result{n, err}
	}()
	waitPipeFull(t, r)
	s.Interrupt()
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second): // a bound for a hang, not a timing assertion
		t.Fatal("Write still blocked 10 s after Interrupt")
	}
	if !errors.Is(res.err, ErrInterrupted) || res.n >= len(data) || res.n == 0 {
		t.Fatalf("blocked Write after Interrupt = %d, %v; want a partial count and ErrInterrupted", res.n, res.err)
	}
	if _, err := s.Write(data[:4]); !errors.Is(err, ErrInterrupted) {
		t.Errorf("Write after Interrupt: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(cdFormat); !errors.Is(err, ErrInterrupted) {
		t.Errorf("Open after Interrupt: %v", err)
	}
	s.Interrupt() // again, closed: nothing to do, no panic
}

// Interrupt before anything is open, or on a sink writing to a regular
// file, is harmless, and the sink reports ErrInterrupted from then on.
func TestPipeSinkInterruptEarly(t *testing.T) {
	file := filepath.Join(t.TempDir(), "raw.pcm")
	os.WriteFile(file, nil, 0o644)
	s := NewPipeSink(file, 0, nil)
	s.Interrupt()
	if _, err := s.Open(cdFormat); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Open after Interrupt: %v", err)
	}
	s2 := NewPipeSink(file, 0, nil)
	if _, err := s2.Open(cdFormat); err != nil {
		t.Fatal(err)
	}
	s2.Interrupt()
	if _, err := s2.Write(testPCM(cdFormat, 4, 1)); !errors.Is(err, ErrInterrupted) {
		t.Errorf("Write to a regular file after Interrupt: %v", err)
	}
	s2.Close()
}

package audio

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The file and pipe sinks sit on the audio hot path too: no allocation per
// period.
func TestSinkWritesDoNotAllocate(t *testing.T) {
	period := testPCM(cdFormat, 882, 1)
	dir := t.TempDir()

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// A reader end kept open (never read): the writes below stay within
	// the pipe's 64 KiB, so they never wait.
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pipe := NewPipeSink(fifo, 0, nil)

	for name, s := range map[string]Sink{
		"null": NewNullSink(),
		"wav":  NewWAVSink(filepath.Join(dir, "a.wav"), 0),
		"pipe": pipe,
	} {
		if _, err := s.Open(cdFormat); err != nil {
			t.Fatal(err)
		}
		runs := 100
		if name == "pipe" {
			runs = 10 // 11 x 3528 bytes < 64 KiB
		}
		if n := testing.AllocsPerRun(runs, func() {
			if _, err := s.Write(period); err != nil {
				t.Fatal(err)
			}
			_ = s.Delay()
		}); n != 0 {
			t.Errorf("%s: %v allocations per period", name, n)
		}
		s.Close()
	}
}

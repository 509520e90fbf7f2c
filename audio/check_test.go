package audio

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestCheckChangesNoFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if line, err := NewNullSink().Check(ctx); err != nil || line == "" {
		t.Errorf("null: %q, %v", line, err)
	}

	wav := filepath.Join(dir, "keep.wav")
	os.WriteFile(wav, []byte("precious"), 0o644)
	if line, err := NewWAVSink(wav, 0).Check(ctx); err != nil || !strings.Contains(line, wav) {
		t.Errorf("wav: %q, %v", line, err)
	}
	fresh := filepath.Join(dir, "new.wav")
	if _, err := NewWAVSink(fresh, 0).Check(ctx); err != nil {
		t.Errorf("wav into an existing directory: %v", err)
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Error("Check created the WAV file")
	}
	if _, err := NewWAVSink(filepath.Join(dir, "nodir", "x.wav"), 0).Check(ctx); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("wav into a missing directory: %v", err)
	}

	raw := filepath.Join(dir, "keep.raw")
	os.WriteFile(raw, []byte("precious"), 0o644)
	if line, err := NewPipeSink(raw, 0, nil).Check(ctx); err != nil || !strings.Contains(line, "not a FIFO") {
		t.Errorf("pipe to a regular file: %q, %v", line, err)
	}
	for _, p := range []string{wav, raw} {
		if b, _ := os.ReadFile(p); string(b) != "precious" {
			t.Errorf("Check changed %s", p)
		}
	}
	if _, err := NewPipeSink(filepath.Join(dir, "nofifo"), 0, nil).Check(ctx); err == nil || !strings.Contains(err.Error(), "mkfifo") {
		t.Errorf("missing FIFO: %v", err)
	}
}

func TestPipeCheckNeedsAReader(t *testing.T) {
	ctx := context.Background()
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPipeSink(fifo, 0, nil).Check(ctx); err == nil || !strings.Contains(err.Error(), "nobody is reading") {
		t.Fatalf("FIFO without a reader: %v", err)
	}
	// A non-blocking open of the read end does not wait for a writer.
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	line, err := NewPipeSink(fifo, 0, nil).Check(ctx)
	if err != nil || !strings.Contains(line, "has a reader") || !strings.Contains(line, "S16_LE 44100 Hz 2 ch") {
		t.Fatalf("FIFO with a reader: %q, %v", line, err)
	}
}

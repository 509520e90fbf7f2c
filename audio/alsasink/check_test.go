package alsasink

import (
	"context"
	"strings"
	"syscall"
	"testing"
)

func TestCheckOpensAndClosesWithoutPlaying(t *testing.T) {
	be := &fakeBackend{devCaps: typicalDAC()}
	s, _ := newTestSink(t, Options{Device: "hw:0,0"}, be)
	line, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "plays 44100 Hz stereo") || !strings.Contains(line, "hw:0,0") {
		t.Errorf("line %q", line)
	}
	if !be.pcm.closed {
		t.Error("Check left the device open")
	}
	for _, c := range be.pcm.calls {
		if strings.HasPrefix(c, "write") {
			t.Errorf("Check wrote to the device: %q", be.pcm.calls)
		}
	}
}

func TestCheckSaysHowToListDevices(t *testing.T) {
	be := &fakeBackend{devCaps: typicalDAC(), capsErr: errnoWrap(syscall.ENOENT)}
	s, _ := newTestSink(t, Options{Device: "hw:3,0"}, be)
	_, err := s.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no such device") || !strings.Contains(err.Error(), "speakerbox doctor audio") || !strings.Contains(err.Error(), "/proc/asound/cards") {
		t.Fatalf("err = %v", err)
	}
}

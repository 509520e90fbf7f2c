package alsasink

import (
	"os"
	"testing"
)

// discardPCM takes every frame and keeps nothing, so allocation counts and
// benchmarks measure the sink alone.
type discardPCM struct{ frameBytes int }

func (p discardPCM) Write(b []byte) (int, error) { return len(b) / p.frameBytes, nil }
func (discardPCM) Prepare() error                { return nil }
func (discardPCM) Drop() error                   { return nil }
func (discardPCM) Drain() error                  { return nil }
func (discardPCM) Delay() (int, error)           { return 441, nil }
func (discardPCM) Close() error                  { return nil }

func openDiscard(tb testing.TB) (*Sink, []byte) {
	tb.Helper()
	be := &fakeBackend{devCaps: typicalDAC(), procCards: []byte(procCards)}
	si, err := newSink(Options{}, be, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	s := si.(*Sink)
	got, err := s.Open(cd)
	if err != nil {
		tb.Fatal(err)
	}
	s.pcm = discardPCM{frameBytes: got.FrameBytes()}
	return s, frames(882, got.FrameBytes(), 1) // one 20 ms period
}

func TestSteadyStateDoesNotAllocate(t *testing.T) {
	s, period := openDiscard(t)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := s.Write(period); err != nil {
			t.Fatal(err)
		}
		_ = s.Delay()
		_ = s.Xruns() // the player reads it every period (its xrun counter)
	}); n != 0 {
		t.Errorf("Write+Delay+Xruns allocate %v times per period", n)
	}
}

// The kernel adapter's write path, on a descriptor that is not a PCM (the
// ioctl fails with ENOTTY): what is measured is our side of the syscall.
func TestKernelWriteDoesNotAllocate(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	k := &kernelPCM{fd: f.Fd(), frameBytes: 4}
	buf := make([]byte, 882*4)
	if _, err := k.Write(buf); err == nil {
		t.Fatal("WRITEI on /dev/null succeeded")
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = k.Write(buf) }); n != 0 {
		t.Errorf("kernelPCM.Write allocates %v times per call", n)
	}
}

// BenchmarkPeriod compares the sink's per-period cost with a plain copy of
// the same period (the least any output must do), in the same run.
func BenchmarkPeriod(b *testing.B) {
	b.Run("sink-write", func(b *testing.B) {
		s, period := openDiscard(b)
		b.SetBytes(int64(len(period)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Write(period); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reference-copy", func(b *testing.B) {
		_, period := openDiscard(b)
		dst := make([]byte, len(period))
		b.SetBytes(int64(len(period)))
		b.ReportAllocs()
		for b.Loop() {
			copy(dst, period)
		}
	})
}

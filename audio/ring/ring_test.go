package ring

import (
	"errors"
	"hash/crc32"
	"math"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"
)

func TestCapacityIsPowerOfTwo(t *testing.T) {
	for in, want := range map[int]int{1: 1, 3: 4, 1000: 1024, 1024: 1024, 44100: 65536} {
		if got := New(in).Cap(); got != want {
			t.Errorf("New(%d).Cap() = %d, want %d", in, got, want)
		}
	}
	if got := Samples(500*time.Millisecond, 44100, 2); got != 44100 {
		t.Errorf("Samples(500ms) = %d", got)
	}
}

func TestWrapAround(t *testing.T) {
	r := New(8)
	p := make([]float32, 8)
	next := float32(0)
	for round := 0; round < 20; round++ {
		in := []float32{next, next + 1, next + 2, next + 3, next + 4}
		if n, err := r.Write(in, nil); n != 5 || err != nil {
			t.Fatal(n, err)
		}
		if r.Len() != 5 {
			t.Fatalf("Len = %d", r.Len())
		}
		n, start, err := r.Peek(p, 5, nil)
		if err != nil || n != 5 || start != uint64(round*5) {
			t.Fatal(n, start, err)
		}
		for i := 0; i < 5; i++ {
			if p[i] != next+float32(i) {
				t.Fatalf("round %d sample %d = %v", round, i, p[i])
			}
		}
		r.Advance(5)
		next += 5
	}
}

func TestFlushNeverReturnsStaleSamples(t *testing.T) {
	r := New(16)
	r.Write([]float32{1, 1, 1, 1, 1, 1}, nil)
	r.Flush()
	if r.Len() != 0 {
		t.Fatalf("Len after flush = %d", r.Len())
	}
	r.Write([]float32{2, 2}, nil)
	p := make([]float32, 16)
	n, start, err := r.Peek(p, 1, nil)
	if err != nil || n != 2 || start != 6 || p[0] != 2 || p[1] != 2 {
		t.Fatalf("after flush: n=%d start=%d %v %v", n, start, p[:n], err)
	}
}

func TestFlushFreesSpaceForBlockedProducer(t *testing.T) {
	r := New(4)
	r.Write([]float32{1, 1, 1, 1}, nil)
	r.Flush()
	done := make(chan error)
	go func() {
		_, err := r.Write([]float32{2, 2, 2, 2}, nil)
		done <- err
	}()
	p := make([]float32, 4)
	n, _, err := r.Peek(p, 4, nil)
	if err != nil || n != 4 || p[0] != 2 || p[3] != 2 {
		t.Fatalf("got %v %v", p[:n], err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestInterruptAndClose(t *testing.T) {
	r := New(2)
	intr := make(chan struct{}, 1)
	intr <- struct{}{}
	if _, _, err := r.Peek(make([]float32, 2), 1, intr); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("empty peek: %v", err)
	}
	r.Write([]float32{1, 2}, nil)
	intr <- struct{}{}
	if n, err := r.Write([]float32{3}, intr); n != 0 || !errors.Is(err, ErrInterrupted) {
		t.Fatalf("full write: %d %v", n, err)
	}
	go r.Close()
	if _, err := r.Write([]float32{3}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	// Data written before Close can still be read, then ErrClosed.
	p := make([]float32, 4)
	if n, _, err := r.Peek(p, 1, nil); n != 2 || err != nil {
		t.Fatal(n, err)
	}
	r.Advance(2)
	if _, _, err := r.Peek(p, 1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("empty after close: %v", err)
	}
}

func TestAllocsPerPeriod(t *testing.T) {
	r := New(4096)
	in := make([]float32, 882)
	out := make([]float32, 882)
	allocs := testing.AllocsPerRun(1000, func() {
		r.Write(in, nil)
		_ = r.Len() // the fill metrics read, from any goroutine
		n, _, _ := r.Peek(out, 1, nil)
		r.Advance(n)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per period", allocs)
	}
}

func bytesOf(p []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(p))), len(p)*4)
}

// TestStressChecksum moves millions of stereo frames through a small ring
// with odd-sized writes and reads on two goroutines (run it with -race) and
// compares checksums of what went in and what came out, including flushes.
func TestStressChecksum(t *testing.T) {
	frames := 2_000_000
	if testing.Short() {
		frames = 200_000
	}
	r := New(1024)
	var wg sync.WaitGroup
	var inSum uint32
	wg.Add(1)
	go func() {
		defer wg.Done()
		chunk := make([]float32, 0, 1000)
		x := uint32(1)
		sizes := []int{1, 2, 7, 64, 333, 1000}
		for i, k := 0, 0; i < frames*2; k++ {
			n := min(sizes[k%len(sizes)], frames*2-i)
			chunk = chunk[:n]
			for j := range chunk {
				x ^= x << 13
				x ^= x >> 17
				x ^= x << 5
				chunk[j] = float32(x&0xffff) / 65536
			}
			inSum = crc32.Update(inSum, crc32.IEEETable, bytesOf(chunk))
			if _, err := r.Write(chunk, nil); err != nil {
				t.Error(err)
				return
			}
			i += n
		}
	}()
	var outSum uint32
	got := 0
	buf := make([]float32, 777)
	for got < frames*2 {
		n, start, err := r.Peek(buf, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		if start != uint64(got) {
			t.Fatalf("start %d after %d samples", start, got)
		}
		n = min(n, 1+got%500) // consume odd amounts
		outSum = crc32.Update(outSum, crc32.IEEETable, bytesOf(buf[:n]))
		r.Advance(n)
		got += n
	}
	wg.Wait()
	if inSum != outSum {
		t.Fatalf("checksum in %08x out %08x", inSum, outSum)
	}
}

// TestStressFlush: a producer writes numbered generations and flushes
// between them; the consumer must never see a sample of an older generation
// after it has seen a newer one.
func TestStressFlush(t *testing.T) {
	r := New(256)
	gens := 2000
	intr := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		chunk := make([]float32, 100)
		for g := 1; g <= gens; g++ {
			r.Flush()
			for j := range chunk {
				chunk[j] = float32(g)
			}
			for k := 0; k < 3; k++ {
				if _, err := r.Write(chunk, intr); err != nil {
					return
				}
			}
		}
		r.Close()
	}()
	buf := make([]float32, 64)
	last := float32(0)
	for {
		n, _, err := r.Peek(buf, 1, nil)
		if errors.Is(err, ErrClosed) {
			break
		}
		for _, v := range buf[:n] {
			if v < last || v != float32(math.Trunc(float64(v))) {
				t.Fatalf("sample of generation %v after generation %v", v, last)
			}
			last = v
		}
		r.Advance(n)
	}
	wg.Wait()
	if last != float32(gens) {
		t.Fatalf("last generation seen %v, want %d", last, gens)
	}
}

func BenchmarkRingThroughput(b *testing.B) {
	r := New(1 << 15)
	const period = 882 // 10 ms stereo at 44.1 kHz
	in := make([]float32, period)
	b.SetBytes(period * 4)
	b.ReportAllocs()
	done := make(chan struct{})
	go func() {
		defer close(done)
		out := make([]float32, period)
		for {
			n, _, err := r.Peek(out, 1, nil)
			if err != nil {
				return
			}
			r.Advance(n)
		}
	}()
	for b.Loop() {
		r.Write(in, nil)
	}
	b.StopTimer()
	r.Close()
	<-done
	b.ReportMetric(float64(b.N)*period/2/44100/b.Elapsed().Seconds(), "x-realtime")
}

// PeekView returns the ring's own memory when the samples do not wrap, a
// copy in scratch when they do, and the same samples and index as Peek.
func TestPeekView(t *testing.T) {
	r := New(8)
	scratch := make([]float32, 8)
	in := []float32{1, 2, 3, 4, 5, 6}
	r.Write(in, nil)
	v, start, err := r.PeekView(scratch, 1, nil)
	if err != nil || start != 0 || !slices.Equal(v, in) {
		t.Fatalf("view %v start %d err %v", v, start, err)
	}
	if &v[0] == &scratch[0] {
		t.Fatal("contiguous samples were copied")
	}
	if cap(v) != len(v) {
		t.Fatalf("view can grow into unread ring memory: cap %d len %d", cap(v), len(v))
	}
	r.Advance(5)
	r.Write([]float32{7, 8, 9, 10}, nil) // 6..10 wraps around the end
	v, start, err = r.PeekView(scratch, 1, nil)
	if err != nil || start != 5 || !slices.Equal(v, []float32{6, 7, 8, 9, 10}) {
		t.Fatalf("wrapped view %v start %d err %v", v, start, err)
	}
	if &v[0] != &scratch[0] {
		t.Fatal("wrapped samples not copied into scratch")
	}
	// At most len(scratch) samples.
	v, _, _ = r.PeekView(scratch[:2], 1, nil)
	if !slices.Equal(v, []float32{6, 7}) {
		t.Fatalf("short scratch: %v", v)
	}
	r.Advance(5)
	intr := make(chan struct{}, 1)
	intr <- struct{}{}
	if _, _, err := r.PeekView(scratch, 1, intr); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("empty ring, interrupted: %v", err)
	}
	r.Close()
	if _, _, err := r.PeekView(scratch, 1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed: %v", err)
	}
}

package connect

import (
	"encoding/json"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

// BenchmarkCommandStep: one command through Step on a playing state (the
// commands cycle; the state carries on from each).
func BenchmarkCommandStep(b *testing.B) {
	cmds := []Request{
		request("a", map[string]any{"endpoint": "pause"}),
		request("b", map[string]any{"endpoint": "resume"}),
		request("c", map[string]any{"endpoint": "seek_to", "value": 30000}),
		request("d", map[string]any{"endpoint": "set_shuffling_context", "value": true}),
		request("e", map[string]any{"endpoint": "skip_next"}),
		request("f", map[string]any{"endpoint": "set_shuffling_context", "value": false}),
		request("g", map[string]any{"endpoint": "skip_prev"}),
	}
	b.Run("step", func(b *testing.B) {
		s := playing(b, 100)
		now := t0
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			now = now.Add(time.Millisecond)
			s, _ = Step(s, Input{Now: now, Event: cmds[i%len(cmds)]})
			i++
		}
	})
	// Reference in the same run: only decoding the same payloads
	// generically, and only marshalling the state the step publishes.
	b.Run("reference-json-decode", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(cmds[i%len(cmds)].Payload, &m); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("reference-marshal-put-state", func(b *testing.B) {
		req := playing(b, 100).PutState(t0.UnixMilli(), 4)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := proto.Marshal(req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPlayerEvent: a position report (the most frequent input).
func BenchmarkPlayerEvent(b *testing.B) {
	s := playing(b, 100)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		s, _ = Step(s, Input{Now: now, Event: TrackPosition{PlaybackID: s.playbackID, PositionMs: 1000}})
	}
}

func heapAfter(n int, inputs []Input, s State) (State, uint64) {
	for i := range n {
		s, _ = Step(s, inputs[i%len(inputs)])
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	runtime.KeepAlive(s)
	return s, m.HeapAlloc
}

// BenchmarkHeap100k: live heap after 10,000 and after 100,000 random inputs
// (the ratio is the figure: flat means about 1).
func BenchmarkHeap100k(b *testing.B) {
	g := &gen{r: rand.New(rand.NewPCG(7, 7)), now: t0}
	cfg := testConfig()
	s0 := New(cfg, 7, -1)
	// Pre-generate inputs against an evolving state so they hit it.
	var inputs []Input
	s := s0
	for range 20000 {
		in := g.next(s)
		inputs = append(inputs, in)
		s, _ = Step(s, in)
	}
	var h10, h100 uint64
	for b.Loop() {
		_, h10 = heapAfter(10000, inputs, s0)
		_, h100 = heapAfter(100000, inputs, s0)
	}
	b.ReportMetric(float64(h10), "heap10k-B")
	b.ReportMetric(float64(h100), "heap100k-B")
	b.ReportMetric(float64(h100)/float64(h10), "ratio")
}

package localapi

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/receiver/hooks"
)

// BenchmarkStatus is the latency of GET /status over loopback HTTP with a
// kept-alive connection; "reference" serves the same bytes from a bare
// handler over the same transport, so the ratio is the API's own cost.
// "api-16sse" asks while 16 event clients are connected and every request
// is accompanied by an event fanned out to all of them.
func BenchmarkStatus(b *testing.B) {
	h := newHarness(b, nil)
	playSomething(h.s)
	_, body := h.do(b, "GET", "/status", "")
	ref := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	b.Cleanup(ref.Close)
	get := func(b *testing.B, url string) {
		resp, err := h.ts.Client().Get(url + "/status")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			get(b, ref.URL)
		}
	})
	b.Run("api", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			get(b, h.ts.URL)
		}
	})
	b.Run("api-16sse", func(b *testing.B) {
		h.readers(b, 16)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			h.s.Emit(volumeEvent(i % 65536))
			get(b, h.ts.URL)
		}
	})
}

// BenchmarkEvents measures an event's fan-out to n SSE clients over
// loopback HTTP (each op: one Emit, then every client has read it) and the
// heap each connected client holds. 1 client is the reference for 16.
func BenchmarkEvents(b *testing.B) {
	for _, n := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			h := newHarness(b, func(c *Config) { c.MaxClients = n })
			playSomething(h.s)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got := make(chan struct{}, n)
			for range n {
				c := h.connect(b)
				c.mustNext(b)
				go func() {
					for {
						if _, err := c.next(); err != nil {
							return
						}
						got <- struct{}{}
					}
				}()
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			perClient := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				h.s.Emit(volumeEvent(i % 65536))
				for range n {
					select {
					case <-got:
					case <-time.After(10 * time.Second): // a hang, not a timing
						b.Fatal("a client did not get the event")
					}
				}
			}
			b.ReportMetric(perClient, "heap-B/client") // after the loop, which resets metrics
		})
	}
}

// BenchmarkEmit is what the emitting goroutine (the player's, the
// device's) pays per hook event, with the hub running and 16 clients
// reading; "reference" is appending the event to a locked slice, the least
// any hand-off costs.
func BenchmarkEmit(b *testing.B) {
	ev := hooks.Position(hooks.Playing, "4uLU6hMCjMI75M1A2tKUQC", 42*time.Second, 213*time.Second)
	b.Run("reference", func(b *testing.B) {
		var mu sync.Mutex
		var q []hooks.Event
		b.ReportAllocs()
		for b.Loop() {
			mu.Lock()
			q = append(q, ev)
			if len(q) > 1024 {
				q = q[:0]
			}
			mu.Unlock()
		}
	})
	b.Run("emit-16sse", func(b *testing.B) {
		h := newHarness(b, nil)
		h.readers(b, 16)
		b.ReportAllocs()
		for b.Loop() {
			h.s.Emit(ev)
		}
	})
}

// readers connects n event clients that read everything until the server
// drops them: the load the benchmarks measure against.
func (h *harness) readers(b *testing.B, n int) {
	for range n {
		c := h.connect(b)
		c.mustNext(b)
		go func() {
			for {
				if _, err := c.next(); err != nil {
					return
				}
			}
		}()
	}
}

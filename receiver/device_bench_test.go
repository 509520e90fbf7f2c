package receiver

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/receiver/connect"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// quietPlayer keeps nothing per call (so the heap benchmark measures the
// device) and signals pause and resume.
type quietPlayer struct {
	events chan connect.Event
	acted  chan string
}

func newQuietPlayer() *quietPlayer {
	return &quietPlayer{events: make(chan connect.Event, 64), acted: make(chan string, 64)}
}

func (p *quietPlayer) Load(id, uri string, pos int64, paused bool) {
	p.events <- connect.TrackStarted{PlaybackID: id, PositionMs: pos, DurationMs: trackMs}
}
func (p *quietPlayer) Pause()                       { p.acted <- "pause" }
func (p *quietPlayer) Resume()                      { p.acted <- "resume" }
func (p *quietPlayer) SeekTo(int64)                 {}
func (p *quietPlayer) Stop()                        {}
func (p *quietPlayer) SetVolume(uint32)             {}
func (p *quietPlayer) Prefetch(string)              {}
func (p *quietPlayer) Events() <-chan connect.Event { return p.events }

func quiet(c *DeviceConfig) { c.Log = slog.New(slog.DiscardHandler) }

// benchPlaying starts a device with the quiet player and brings it to
// playing.
func benchPlaying(b *testing.B) (*devEnv, *quietPlayer) {
	p := newQuietPlayer()
	e := newDevEnv(b, quiet, func(c *DeviceConfig) { c.Player = p })
	e.startPlaying()
	return e, p
}

// sendCommand sends pause or resume under key and waits for the player.
func (e *devEnv) sendCommand(b *testing.B, p *quietPlayer, key string, endpoint string) {
	payload, err := spotifytest.DealerCommandPayload(1, phoneID, map[string]any{"endpoint": endpoint})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.ds.SendRequest(e.ctx, spotifytest.DealerRequest{Key: key, Payload: payload}); err != nil {
		b.Fatal(err)
	}
	select {
	case got := <-p.acted:
		if got != endpoint {
			b.Fatalf("player did %s for %s", got, endpoint)
		}
	case <-e.ctx.Done():
		b.Fatal(e.ctx.Err())
	}
}

// Request to reply through the whole device (dealer client, loop, state
// machine, reply back over the websocket), against the dealer round trip
// alone (the fake pings, our dealer client pongs) measured in the same run:
// x-ref is how many dealer round trips one command costs.
func BenchmarkDeviceCommandRoundTrip(b *testing.B) {
	e, p := benchPlaying(b)
	var cmd, ref time.Duration
	b.ResetTimer()
	for i := range b.N {
		key := fmt.Sprintf("b-%d", i)
		endpoint := "pause"
		if i%2 == 1 {
			endpoint = "resume"
		}
		t0 := time.Now()
		e.sendCommand(b, p, key, endpoint)
		if _, err := e.ds.WaitReply(e.ctx, key); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := e.ds.RoundTrip(e.ctx); err != nil {
			b.Fatal(err)
		}
		cmd += t1.Sub(t0)
		ref += time.Since(t1)
	}
	b.StopTimer()
	b.ReportMetric(float64(cmd.Nanoseconds())/float64(b.N), "cmd-ns/op")
	b.ReportMetric(float64(ref.Nanoseconds())/float64(b.N), "dealer-rt-ns/op")
	b.ReportMetric(float64(cmd)/float64(ref), "x-ref")
}

// PUTs sent for a burst of 100 volume changes from the app: the publisher
// coalesces them (at least 200 ms apart, the latest state wins).
func BenchmarkDeviceVolumeBurstPuts(b *testing.B) {
	e := newDevEnv(b, quiet)
	e.startPlaying()
	puts := 0
	b.ResetTimer()
	for i := range b.N {
		before := len(e.spclientPuts())
		last := uint32(0)
		for v := range 100 {
			last = uint32(1000 + (i%50)*1000 + v) // below 65535, unlike the previous burst
			e.volume(last)
		}
		e.volumePut(last)
		puts += len(e.spclientPuts()) - before
	}
	b.StopTimer()
	b.ReportMetric(float64(puts)/float64(b.N), "PUTs/burst")
}

// The heap after many commands stays flat: run with -benchtime=100000x.
// heap-10k-B is the live heap after 10,000 commands, heap-end-B after
// b.N; keys cycle so the fake's reply log grows by one bool per command.
func BenchmarkDeviceHeapAfterCommands(b *testing.B) {
	e, p := benchPlaying(b)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var at10k uint64
	keys := make([]string, 16)
	for i := range keys {
		keys[i] = fmt.Sprintf("h-%d", i)
	}
	b.ResetTimer()
	for i := range b.N {
		endpoint := "pause"
		if i%2 == 1 {
			endpoint = "resume"
		}
		e.sendCommand(b, p, keys[i%len(keys)], endpoint)
		if i%len(keys) == len(keys)-1 {
			// A fence: the fake has read every reply before the pong.
			// Without it the replies outrun the fake's reading and the
			// dealer client's write queue (64 frames) overflows, which
			// drops the connection.
			if err := e.ds.RoundTrip(e.ctx); err != nil {
				b.Fatal(err)
			}
		}
		if i+1 == 10000 {
			at10k = heap()
		}
	}
	b.StopTimer()
	// Let the last reply reach the fake before measuring.
	if err := e.ds.RoundTrip(context.Background()); err != nil {
		b.Fatal(err)
	}
	end := heap()
	if at10k > 0 {
		b.ReportMetric(float64(at10k), "heap-10k-B")
	}
	b.ReportMetric(float64(end), "heap-end-B")
}

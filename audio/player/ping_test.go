package player

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/audiotest"
)

// An idle player answers at once; a player whose device hangs in Write
// does not, and the error names the output; once the device returns, it
// answers again; a closed player says so.
func TestPingProvesBothGoroutinesAlive(t *testing.T) {
	s := &wedgeSink{entered: make(chan struct{}), release: make(chan struct{})}
	p := newPlayer(t, exactConfig(&s.memSink))
	p.cfg.NewSink = func() (audio.Sink, error) { return s, nil }
	if err := p.Ping(context.Background()); err != nil {
		t.Fatalf("idle player: %v", err)
	}

	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}))
	p.Load(plainTrack(t, "a", b), true, 0)
	<-s.entered // the output is stuck in the device from now on

	// The decoder keeps answering; the output cannot. ctx has ended
	// already: what Ping says depends only on who answered.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := p.Ping(ctx)
	if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "output") {
		t.Fatalf("Ping with the output stuck in the device = %v, want an error naming the output", err)
	}
	// Several unanswered pings must not block a later Ping beyond its ctx.
	for range 6 {
		if err := p.Ping(ctx); err == nil {
			t.Fatal("a stuck output answered")
		}
	}

	close(s.release)
	if err := p.Ping(context.Background()); err != nil {
		t.Fatalf("after the device came back: %v", err)
	}
	p.Close()
	if err := p.Ping(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed player: %v", err)
	}
}

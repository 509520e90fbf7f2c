package hooks

import (
	"context"
	"os/exec"
	"testing"
)

// BenchmarkRun is one synchronous hook run (what a sink event costs the
// player) against BenchmarkShellReference, the same shell command started
// bare with os/exec: the difference is the runner's own overhead (process
// group, environment, output to the log).
func BenchmarkRun(b *testing.B) {
	r, err := New(Config{OnEvent: "true", BaseEnv: []string{testPath}})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	ev := SinkEvent(SinkRunning)
	for b.Loop() {
		if err := r.Run(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkShellReference(b *testing.B) {
	for b.Loop() {
		if err := exec.Command("/bin/sh", "-c", "true").Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEmit is what queueing an event costs the caller (the player's
// event loop): it must not wait for the hook.
func BenchmarkEmit(b *testing.B) {
	r, err := New(Config{OnEvent: "true", BaseEnv: []string{testPath}, Queue: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	ev := Position(Playing, "t", 0, 0)
	for b.Loop() {
		r.Emit(ev)
	}
	b.StopTimer()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // drop what is queued
	_ = r.Close(ctx)
}

package trackplayer

import (
	"context"
	"errors"
	"testing"
)

// Ping is answered by the track loop and the audio player while they run,
// and refused once the Player is closed.
func TestPing(t *testing.T) {
	r := newRig(t)
	if err := r.p.Ping(context.Background()); err != nil {
		t.Fatalf("running player: %v", err)
	}
	// After Close the loop is gone: Ping says so instead of waiting.
	r.p.Close()
	if err := r.p.Ping(context.Background()); !errors.Is(err, errClosed) {
		t.Fatalf("closed player: %v", err)
	}
}

package trackplayer

import (
	"context"
	"errors"
	"fmt"
)

// errClosed is Ping's answer once the Player is closed.
var errClosed = errors.New("trackplayer: closed")

// Ping returns once the Player's own loop and both goroutines of the audio
// player have answered, which proves that none of them is stuck; otherwise
// an error naming the one that did not, wrapping ctx's error. A systemd
// watchdog asks it.
func (p *Player) Ping(ctx context.Context) error {
	r := make(chan struct{})
	select {
	case p.pings <- r:
	case <-ctx.Done():
		return fmt.Errorf("trackplayer: the track loop did not take the ping: %w", ctx.Err())
	case <-p.ctx.Done():
		return errClosed
	}
	select {
	case <-r:
	case <-ctx.Done():
		return fmt.Errorf("trackplayer: the track loop did not answer: %w", ctx.Err())
	case <-p.ctx.Done():
		return errClosed
	}
	return p.audio.Ping(ctx)
}

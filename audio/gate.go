package audio

import "context"

// Gate is asked before the player opens its sink; sound waits until
// BeforeOpen returns. The amplifier relay and the "sink running" hook sit
// behind it, so the first samples are never played into an amplifier that is
// still off or warming up.
type Gate interface {
	// BeforeOpen blocks until the output chain may make sound (amplifier on
	// and warmed up, blocking hook done). An error keeps the sink closed and
	// is reported as a player error event.
	BeforeOpen(ctx context.Context) error
	// AfterClose says the sink device has been closed.
	AfterClose()
}

package playback

import (
	"github.com/speakerbox/speakerbox/gpio/amp"
	"github.com/speakerbox/speakerbox/receiver/hooks"
)

// RelayStats is the amplifier relay's counters; ok is false when nothing
// switches the amplifier.
func (o *Output) RelayStats() (st amp.Stats, ok bool) {
	if o.relay == nil {
		return amp.Stats{}, false
	}
	return o.relay.Stats(), true
}

// HookStats is the hook runner's counters; ok is false without a runner.
func (o *Output) HookStats() (st hooks.Stats, ok bool) {
	if o.hooks == nil {
		return hooks.Stats{}, false
	}
	return o.hooks.Stats(), true
}

package main

import (
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/metrics"
	"github.com/speakerbox/speakerbox/receiver"
	"github.com/speakerbox/speakerbox/receiver/playback"
	"github.com/speakerbox/speakerbox/receiver/trackplayer"
	"github.com/speakerbox/speakerbox/zeroconfsrv"
)

// speakerMetrics is the /metrics registry over the speaker's parts, read
// when Prometheus scrapes; the local API serves its Handler. A nil part
// is left out of the metrics.
func speakerMetrics(out *playback.Output, pl *trackplayer.Player, dev *receiver.Device, zc *zeroconfsrv.Server) *metrics.Metrics {
	src := metrics.Sources{Build: metrics.CurrentBuild(version), Process: true}
	if out != nil {
		// Both are there from NewOutput on, or never.
		if _, ok := out.RelayStats(); ok {
			src.Relay = out.RelayStats
		}
		if _, ok := out.HookStats(); ok {
			src.Hooks = out.HookStats
		}
	}
	if pl != nil {
		src.Audio = pl.AudioStats
	}
	if dev != nil {
		src.Receiver = dev.Stats
	}
	if zc != nil {
		src.ZeroConf = zc.Handler().Stats
	}
	return metrics.New(src)
}

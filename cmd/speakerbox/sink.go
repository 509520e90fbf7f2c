package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/alsasink"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
)

// newSink builds the audio output the configuration selects (audio.output
// and the keys that go with it). The device is not opened here: the player
// opens it with the format it produces. The play command and the receiver
// both use it, so they play through exactly the same output.
func newSink(cfg *config.Config, log *slog.Logger) (audio.Sink, error) {
	a := cfg.Audio
	sample, err := a.SampleFormat()
	if err != nil {
		return nil, err
	}
	log = log.With("output", a.Output)
	switch a.Output {
	case "alsa":
		s, err := alsasink.New(alsasink.Options{
			Device:  a.Device,
			Format:  sample,
			Buffer:  a.Buffer,
			Period:  a.Period,
			Mixer:   a.Mixer,
			RangeDB: a.VolumeRangeDB,
			Log:     log,
		})
		if err != nil {
			return nil, fmt.Errorf("audio output: %w", err)
		}
		return s, nil
	case "pipe":
		return audio.NewPipeSink(a.Path, sample, log), nil
	case "wav":
		return audio.NewWAVSink(a.Path, sample), nil
	case "null":
		return audio.NewNullSink(), nil
	}
	return nil, fmt.Errorf("audio.output: unknown output %q (allowed: alsa, pipe, wav, null)", a.Output)
}

// checkOutputAtStart asks the configured output once, at start, whether it
// could play: a missing sound card or FIFO is a warning that says how to
// find the right one, not silence until the first track fails. Only a
// warning: a USB DAC may be plugged in later, a FIFO's reader may start
// later.
func checkOutputAtStart(ctx context.Context, cfg *config.Config, log *slog.Logger) {
	sink, err := newSink(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		log.Warn("audio output unusable", "output", cfg.Audio.Output, "err", err)
		return
	}
	c, ok := sink.(audio.Checker)
	if !ok {
		return
	}
	if _, err := c.Check(ctx); err != nil {
		log.Warn("audio output not ready; playback fails until it is",
			"output", cfg.Audio.Output, "err", err,
			"help", "'speakerbox doctor audio' lists the devices and checks the output (or: cat /proc/asound/cards)")
	}
}

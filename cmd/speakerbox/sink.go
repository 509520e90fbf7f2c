package main

import (
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
			Device: a.Device,
			Format: sample,
			Buffer: a.Buffer,
			Period: a.Period,
			Mixer:  a.Mixer,
			Log:    log,
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

package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/alsasink"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
)

func audioConfig(mod func(*config.Audio)) *config.Config {
	c := &config.Config{Audio: config.Audio{Output: "alsa", Device: "hw:0,0", Path: "-", Format: "auto", Buffer: 500 * time.Millisecond}}
	mod(&c.Audio)
	return c
}

func TestNewSinkSelectsTheOutput(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	cases := []struct {
		mod  func(*config.Audio)
		want string // the sink's type
		hw   bool   // implements audio.HardwareVolume
	}{
		{func(a *config.Audio) {}, "*alsasink.Sink", false},
		{func(a *config.Audio) { a.Mixer = "PCM"; a.Device = "hw:Loopback,0" }, "*alsasink.VolumeSink", true},
		{func(a *config.Audio) { a.Output = "pipe" }, "*audio.PipeSink", false},
		{func(a *config.Audio) { a.Output = "wav"; a.Path = "/tmp/x.wav" }, "*audio.WAVSink", false},
		{func(a *config.Audio) { a.Output = "null" }, "*audio.NullSink", false},
	}
	for _, c := range cases {
		cfg := audioConfig(c.mod)
		s, err := newSink(cfg, log)
		if err != nil {
			t.Fatalf("%+v: %v", cfg.Audio, err)
		}
		if got := typeName(s); got != c.want {
			t.Errorf("%+v: sink %s, want %s", cfg.Audio, got, c.want)
		}
		if _, ok := s.(audio.HardwareVolume); ok != c.hw {
			t.Errorf("%+v: HardwareVolume %v, want %v", cfg.Audio, ok, c.hw)
		}
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *alsasink.Sink:
		return "*alsasink.Sink"
	case *alsasink.VolumeSink:
		return "*alsasink.VolumeSink"
	case *audio.PipeSink:
		return "*audio.PipeSink"
	case *audio.WAVSink:
		return "*audio.WAVSink"
	case *audio.NullSink:
		return "*audio.NullSink"
	}
	return "?"
}

func TestNewSinkFormatReachesTheSink(t *testing.T) {
	s, err := newSink(audioConfig(func(a *config.Audio) { a.Output = "null"; a.Format = "S24_3LE" }), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Open(audio.CDStereo()); got.Sample != audio.S16LE {
		t.Errorf("null sink changed the format: %s", got)
	}
	// The WAV sink writes the configured format whatever the player asks.
	dir := t.TempDir()
	w, err := newSink(audioConfig(func(a *config.Audio) { a.Output = "wav"; a.Path = dir + "/o.wav"; a.Format = "S24_3LE" }), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.Open(audio.CDStereo())
	if err != nil || got.Sample != audio.S24_3LE {
		t.Errorf("wav: %s, %v; want S24_3LE", got, err)
	}
	w.Close()
}

func TestNewSinkRejectsBadCombinations(t *testing.T) {
	for _, c := range []struct {
		mod  func(*config.Audio)
		want string
	}{
		{func(a *config.Audio) { a.Format = "S8" }, "audio.format"},
		{func(a *config.Audio) { a.Device = "default" }, `ALSA device "default" is an alsa-lib plugin`},
		{func(a *config.Audio) { a.Buffer = 100 * time.Millisecond; a.Period = 80 * time.Millisecond }, "at least 2 periods"},
		{func(a *config.Audio) { a.Output = "pulse" }, "audio.output"},
	} {
		_, err := newSink(audioConfig(c.mod), slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want it to name %s", err, c.want)
		}
	}
}

func TestCheckOutputAtStartWarns(t *testing.T) {
	for _, c := range []struct {
		mod  func(*config.Audio)
		want []string // in the log; nil: no warning
	}{
		{func(a *config.Audio) { a.Device = "hw:31,0" }, []string{"level=WARN", "no such device", "speakerbox doctor audio", "/proc/asound/cards"}},
		{func(a *config.Audio) { a.Output = "pipe"; a.Path = "/nonexistent/fifo" }, []string{"level=WARN", "mkfifo"}},
		{func(a *config.Audio) { a.Output = "null" }, nil},
	} {
		var b strings.Builder
		cfg := audioConfig(c.mod)
		checkOutputAtStart(context.Background(), cfg, slog.New(slog.NewTextHandler(&b, nil)))
		if c.want == nil && b.Len() > 0 {
			t.Errorf("%+v: unexpected log %s", cfg.Audio, b.String())
		}
		for _, w := range c.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%+v: log lacks %q:\n%s", cfg.Audio, w, b.String())
			}
		}
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/localapi"
	"github.com/speakerbox/speakerbox/receiver/connect"
	"github.com/speakerbox/speakerbox/receiver/playback"
)

// liveParts are what the page's settings change while the speaker runs.
// Interfaces, so that the mapping from a key to its setters is tested with
// fakes; run.go hands over the real parts (receiver.Device,
// zeroconfsrv.Server, localapi.Server, playback.Output, the track player).
type liveParts struct {
	device interface {
		SetName(ctx context.Context, name string) error
		SetMaxVolume(ctx context.Context, v uint32) error
		SetAutoplay(ctx context.Context, a connect.Autoplay) error
	}
	discovery interface{ SetName(name string) } // getInfo and mDNS
	heading   interface{ SetName(name string) } // the API's status (nil: no API)
	amp       interface {
		SetAmpTimings(warmup, idleTimeout time.Duration) error
	}
	softCap interface{ SetMaxVolume(percent int) } // the player's software volume
	// hardware: audio.mixer is set, so the cap is on the Connect volume
	// itself (as connectMaxVolume at start), not in the player.
	hardware bool
}

// liveSettings puts saved settings into effect (localapi.Owner.Apply).
// The parts arrive after the API is made (wire); before that every
// setting answers ErrUnavailable and the page says "restart needed".
type liveSettings struct {
	log *slog.Logger

	mu     sync.Mutex
	parts  *liveParts
	warmup time.Duration // the relay's timings now: a key sets one of the two
	idle   time.Duration
}

func newLiveSettings(c *config.Config, log *slog.Logger) *liveSettings {
	return &liveSettings{log: log, warmup: c.GPIO.Warmup, idle: c.GPIO.IdleTimeout}
}

func (s *liveSettings) wire(p liveParts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parts = &p
}

// nextStartKeys only matter when the speaker starts.
func nextStartKeys() []string { return []string{"audio.initial_volume"} }

// funcs maps the keys that apply at once to their setters; every other
// key (gpio.relay_line, gpio.active_low) needs a restart.
func (s *liveSettings) funcs() map[string]func(context.Context, any) error {
	return map[string]func(context.Context, any) error{
		"name":              s.setName,
		"audio.max_volume":  s.setMaxVolume,
		"autoplay":          s.setAutoplay,
		"gpio.warmup":       func(ctx context.Context, v any) error { return s.setTiming(v, &s.warmup) },
		"gpio.idle_timeout": func(ctx context.Context, v any) error { return s.setTiming(v, &s.idle) },
	}
}

func (s *liveSettings) get() (*liveParts, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.parts == nil {
		return nil, fmt.Errorf("the speaker is still starting: %w", localapi.ErrUnavailable)
	}
	return s.parts, nil
}

func (s *liveSettings) setName(ctx context.Context, v any) error {
	name, ok := v.(string)
	if !ok || name == "" {
		// The host name is what an empty name means, and only start
		// looks it up.
		return fmt.Errorf("name %v: an empty name takes the host name at the next start", v)
	}
	p, err := s.get()
	if err != nil {
		return err
	}
	if err := p.device.SetName(ctx, name); err != nil {
		return fmt.Errorf("rename the Spotify device: %w", err)
	}
	p.discovery.SetName(name)
	if p.heading != nil {
		p.heading.SetName(name)
	}
	s.log.Info("renamed", "name", name)
	return nil
}

func (s *liveSettings) setMaxVolume(ctx context.Context, v any) error {
	pct, ok := v.(int)
	if !ok {
		return fmt.Errorf("audio.max_volume %v: not a whole number", v)
	}
	p, err := s.get()
	if err != nil {
		return err
	}
	if p.hardware {
		// The device lowers a volume above the new cap, on the mixer and
		// in the apps.
		if err := p.device.SetMaxVolume(ctx, percentToVolume(pct)); err != nil {
			return fmt.Errorf("cap the volume: %w", err)
		}
	} else {
		p.softCap.SetMaxVolume(pct)
	}
	s.log.Info("maximum volume changed", "percent", pct, "hardware_mixer", p.hardware)
	return nil
}

func (s *liveSettings) setAutoplay(ctx context.Context, v any) error {
	str, _ := v.(string)
	c := config.Config{Autoplay: str}
	p, err := s.get()
	if err != nil {
		return err
	}
	if err := p.device.SetAutoplay(ctx, c.ConnectAutoplay()); err != nil {
		return fmt.Errorf("autoplay: %w", err)
	}
	s.log.Info("autoplay changed", "autoplay", str)
	return nil
}

// setTiming sets one of the relay's timings (field is &s.warmup or
// &s.idle) and hands both to the amplifier, from its next switch on.
func (s *liveSettings) setTiming(v any, field *time.Duration) error {
	str, _ := v.(string)
	d, err := time.ParseDuration(str)
	if err != nil {
		return fmt.Errorf("amplifier timing %q: %w", str, err)
	}
	p, err := s.get()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *field
	*field = d
	err = p.amp.SetAmpTimings(s.warmup, s.idle)
	if errors.Is(err, playback.ErrNoRelay) {
		// Nothing is switched: the timing is saved for when a relay is
		// configured, and nothing running waits for it.
		return nil
	}
	if err != nil {
		*field = old
		return fmt.Errorf("amplifier timings: %w", err)
	}
	s.log.Info("amplifier timings changed", "warmup", s.warmup, "idle_timeout", s.idle)
	return nil
}

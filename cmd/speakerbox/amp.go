package main

import (
	"context"
	"fmt"

	"periph.io/x/conn/v3/gpio"

	"github.com/speakerbox/speakerbox/gpio/amp"
	"github.com/speakerbox/speakerbox/gpio/line"
	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/receiver/playback"
)

// openOutput builds what a playing command puts between its player and the
// amplifier from the gpio.* and hooks.* keys: the relay (GPIO line and/or
// amp commands, optional mute line), the hook runner and the glue. The
// amplifier is driven off before it returns, and the exit guard switches it
// off on every way out (signal, fatal error, panic, hung shutdown). The
// caller closes the Output for the orderly path. The override lets the
// local API hold the relay on or off (nil when nothing switches power);
// tap, if not nil, sees every hook event (the local API's live events).
func openOutput(ctx context.Context, a *app, tap func(hooks.Event)) (*playback.Output, *relayOverride, error) {
	g, h := a.cfg.GPIO, a.cfg.Hooks
	runner, err := hooks.New(hooks.Config{
		OnEvent: h.OnEvent,
		Timeout: h.Timeout,
		Env:     h.Env,
		Tap:     tap,
		Log:     a.log.With("component", "hooks"),
	})
	if err != nil {
		return nil, nil, err
	}
	relay, override, err := relayConfig(ctx, a, runner)
	if err != nil {
		_ = runner.Close(ctx)
		return nil, nil, err
	}
	out, err := playback.NewOutput(ctx, playback.OutputConfig{
		Relay: relay,
		Hooks: runner,
		Log:   a.log.With("component", "amplifier"),
	})
	if err != nil {
		_ = runner.Close(ctx)
		return nil, nil, err
	}
	a.guard.Add(out.ForceOff)
	a.guard.Add(override.release) // runs first: a held relay must not outlast the speaker
	if relay != nil {
		a.log.Info("amplifier control", "relay_line", g.RelayLine, "active_low", g.ActiveLow, "mute_line", g.MuteLine,
			"amp_commands", h.AmpOnCommand != "" || h.AmpOffCommand != "", "warmup", g.Warmup, "idle_timeout", g.IdleTimeout)
	}
	return out, override, nil
}

// relayConfig is nil when nothing switches the amplifier.
func relayConfig(ctx context.Context, a *app, runner *hooks.Runner) (*amp.Config, *relayOverride, error) {
	g, h := a.cfg.GPIO, a.cfg.Hooks
	var power amp.Switches
	if g.RelayLine != "" {
		pin, err := openLine("gpio.relay_line", g.RelayLine)
		if err != nil {
			return nil, nil, err
		}
		power = append(power, amp.PinSwitch{Pin: pin, ActiveLow: g.ActiveLow})
	}
	if h.AmpOnCommand != "" || h.AmpOffCommand != "" {
		power = append(power, playback.AmpCommands(runner, h.AmpOnCommand, h.AmpOffCommand))
	}
	var mute amp.Switch
	if g.MuteLine != "" {
		pin, err := openLine("gpio.mute_line", g.MuteLine)
		if err != nil {
			return nil, nil, err
		}
		mute = amp.PinSwitch{Pin: pin, ActiveLow: g.ActiveLow}
	}
	if len(power) == 0 && mute == nil {
		return nil, nil, nil
	}
	var override *relayOverride
	var ps amp.Switch = power
	if len(power) > 0 {
		override = newRelayOverride(power)
		ps = override
	}
	return &amp.Config{
		Power:       ps,
		Mute:        mute,
		Warmup:      g.Warmup,
		IdleTimeout: g.IdleTimeout,
	}, override, nil
}

// openLine resolves a configured line; the error names the key.
func openLine(key, value string) (gpio.PinOut, error) {
	spec, err := line.Parse(value)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	pin, err := line.Open(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return pin, nil
}

// closeOutput is the orderly end of a playing command: output closed,
// amplifier off, queued hooks run. It stays inside the shutdown grace, after
// which the signal handler would cut it short.
func closeOutput(a *app, out *playback.Output) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace*3/4)
	defer cancel()
	if err := out.Close(ctx); err != nil {
		a.log.Warn("amplifier shutdown", "err", err)
	}
}

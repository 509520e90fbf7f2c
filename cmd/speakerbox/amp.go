package main

import (
	"context"
	"fmt"
	"log/slog"

	"periph.io/x/conn/v3/gpio"

	"github.com/speakerbox/speakerbox/audio/player"
	sbgpio "github.com/speakerbox/speakerbox/gpio"
	"github.com/speakerbox/speakerbox/gpio/line"
	"github.com/speakerbox/speakerbox/receiver"
	"github.com/speakerbox/speakerbox/receiver/hooks"
)

// openOutput builds what a playing command puts between its player and the
// amplifier from the gpio.* and hooks.* keys: the relay (GPIO line and/or
// amp commands, optional mute line), the hook runner and the glue. The
// amplifier is driven off before it returns, and the exit guard switches it
// off on every way out (signal, fatal error, panic, hung shutdown). The
// caller closes the Output for the orderly path.
func openOutput(ctx context.Context, a *app) (*receiver.Output, error) {
	g, h := a.cfg.GPIO, a.cfg.Hooks
	runner, err := hooks.New(hooks.Config{
		OnEvent: h.OnEvent,
		Timeout: h.Timeout,
		Env:     h.Env,
		Log:     a.log.With("component", "hooks"),
	})
	if err != nil {
		return nil, err
	}
	relay, err := relayConfig(ctx, a, runner)
	if err != nil {
		_ = runner.Close(ctx)
		return nil, err
	}
	out, err := receiver.NewOutput(ctx, receiver.OutputConfig{
		Relay: relay,
		Hooks: runner,
		Log:   a.log.With("component", "amplifier"),
	})
	if err != nil {
		_ = runner.Close(ctx)
		return nil, err
	}
	a.guard.Add(out.ForceOff)
	if relay != nil {
		a.log.Info("amplifier control", "relay_line", g.RelayLine, "active_low", g.ActiveLow, "mute_line", g.MuteLine,
			"amp_commands", h.AmpOnCommand != "" || h.AmpOffCommand != "", "warmup", g.Warmup, "idle_timeout", g.IdleTimeout)
	}
	return out, nil
}

// relayConfig is nil when nothing switches the amplifier.
func relayConfig(ctx context.Context, a *app, runner *hooks.Runner) (*sbgpio.Config, error) {
	g, h := a.cfg.GPIO, a.cfg.Hooks
	var power sbgpio.Switches
	if g.RelayLine != "" {
		pin, err := openLine("gpio.relay_line", g.RelayLine)
		if err != nil {
			return nil, err
		}
		power = append(power, sbgpio.PinSwitch{Pin: pin, ActiveLow: g.ActiveLow})
	}
	if h.AmpOnCommand != "" || h.AmpOffCommand != "" {
		power = append(power, sbgpio.SwitchFunc(func(ctx context.Context, on bool) error {
			what, command := "amp_off_command", h.AmpOffCommand
			if on {
				what, command = "amp_on_command", h.AmpOnCommand
			}
			if command != "" {
				// Logged by the runner; a failing hook never stops the
				// music.
				_ = runner.Command(ctx, what, command, hooks.Amp(on))
			}
			return nil
		}))
	}
	var mute sbgpio.Switch
	if g.MuteLine != "" {
		pin, err := openLine("gpio.mute_line", g.MuteLine)
		if err != nil {
			return nil, err
		}
		mute = sbgpio.PinSwitch{Pin: pin, ActiveLow: g.ActiveLow}
	}
	if len(power) == 0 && mute == nil {
		return nil, nil
	}
	return &sbgpio.Config{
		Power:       power,
		Mute:        mute,
		Warmup:      g.Warmup,
		IdleTimeout: g.IdleTimeout,
	}, nil
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
func closeOutput(a *app, out *receiver.Output) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace*3/4)
	defer cancel()
	if err := out.Close(ctx); err != nil {
		a.log.Warn("amplifier shutdown", "err", err)
	}
}

// waitAmplifierOff is the end of `speakerbox play` with an amplifier: the
// idle timeout runs and the relay drops, as under the receiver, so owners
// and the real-kernel tests see the whole cycle. Player events are still
// read meanwhile (the player waits for them to be read; Output sees them
// through Config.Observe).
//
// The idle timeout is started by the player's own EndOfQueue (or
// OutputError), through Output.Observe, not here: the last TrackEnded
// reaches this goroutine before the player has closed the device and sent
// EndOfQueue, and a timer started from here could switch off while the
// end of a file still plays, and make the hooks' order a race (sink
// "closed" before "stopped", seen 1 in 200 under load).
func waitAmplifierOff(ctx context.Context, p *player.Player, out *receiver.Output, log *slog.Logger) {
	off := out.WhenOff()
	// Then the last hooks (amp_off) run in full, not within the shutdown's
	// grace that Close gives them; Ctrl-C cuts the wait short.
	defer func() { _ = out.Flush(ctx) }()
	select {
	case <-off:
		return
	default:
	}
	log.Info("waiting for the amplifier's idle timeout; Ctrl-C switches it off now")
	events := p.Events()
	for {
		select {
		case <-off:
			return
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				events = nil
			}
		}
	}
}

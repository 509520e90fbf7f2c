package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/speakerbox/speakerbox/gpio/amp"
)

// doctorGPIO checks the relay line and, on request, drives it by hand so an
// owner can test the wiring: `doctor gpio --line GPIO17 --blink`.
func doctorGPIO(fs *flag.FlagSet) runFunc {
	lineFlag := fs.String("line", "", "the GPIO line: GPIO17 or chip:offset (default: gpio.relay_line)")
	on := fs.Bool("on", false, "switch the relay on and hold it until Ctrl-C (or SIGTERM), then off")
	off := fs.Bool("off", false, "switch the relay off and exit (also fit for systemd's ExecStopPost)")
	blink := fs.Bool("blink", false, "switch on and off every --period until Ctrl-C or --count, then off")
	period := fs.Duration("period", 500*time.Millisecond, "time on and time off with --blink")
	count := fs.Int("count", 0, "blink this many times (0: until Ctrl-C)")
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) > 0 {
			return usagef("doctor gpio takes no arguments, got %q", args)
		}
		actions := 0
		for _, b := range []bool{*on, *off, *blink} {
			if b {
				actions++
			}
		}
		if actions > 1 {
			return usagef("doctor gpio: give one of --on, --off, --blink")
		}
		if *blink && (*period <= 0 || *count < 0) {
			return usagef("doctor gpio: --period must be positive and --count not negative")
		}
		spec := *lineFlag
		if spec == "" {
			spec = a.cfg.GPIO.RelayLine
		}
		if spec == "" {
			if *off {
				// systemd's ExecStopPost runs this on every speaker.
				fmt.Fprintln(a.stdout, "OK: no relay line configured; nothing to switch off")
				return nil
			}
			if actions > 0 {
				return usagef("doctor gpio: no line: give --line or set gpio.relay_line")
			}
			return &notApplicable{"no relay line configured (gpio.relay_line is empty)"}
		}
		pin, err := openLine("line", spec)
		if err != nil {
			return err
		}
		polarity := "active high"
		if a.cfg.GPIO.ActiveLow {
			polarity = "active low"
		}
		fmt.Fprintf(a.stdout, "line %s found: %s, %s\n", spec, pin, polarity)
		if actions == 0 {
			fmt.Fprintln(a.stdout, "OK: not driven (use --on, --off or --blink)")
			return nil
		}
		sw := amp.PinSwitch{Pin: pin, ActiveLow: a.cfg.GPIO.ActiveLow}
		set := func(state bool) error {
			if err := sw.Set(ctx, state); err != nil {
				return err
			}
			word := "off"
			if state {
				word = "on"
			}
			fmt.Fprintf(a.stdout, "relay %s (line %s)\n", word, levelName(state != sw.ActiveLow))
			return nil
		}
		// Whatever ends this command, the relay ends off.
		a.guard.Add(func() { _ = sw.Set(context.Background(), false) })
		switch {
		case *off:
			return set(false)
		case *on:
			if err := set(true); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "holding; Ctrl-C switches it off")
			<-ctx.Done()
			return set(false)
		default:
			t := time.NewTicker(*period)
			defer t.Stop()
			for i := 0; *count == 0 || i < *count; i++ {
				for _, state := range []bool{true, false} {
					if err := set(state); err != nil {
						_ = sw.Set(context.Background(), false)
						return err
					}
					select {
					case <-ctx.Done():
						return set(false)
					case <-t.C:
					}
				}
			}
			return set(false)
		}
	}
}

func levelName(high bool) string {
	if high {
		return "high"
	}
	return "low"
}

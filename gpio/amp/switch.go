package amp

import (
	"context"
	"errors"
	"fmt"

	"periph.io/x/conn/v3/gpio"
)

// Switch is what the relay state machine turns on and off: a GPIO line, or
// a pair of commands for amplifiers switched over IR, HDMI-CEC or a smart
// plug.
type Switch interface {
	// Set switches the amplifier (or asserts the mute line) when on is
	// true. It may block, for a command up to its timeout.
	Set(ctx context.Context, on bool) error
}

// PinSwitch drives one GPIO line. Asserted means high, or low if ActiveLow.
type PinSwitch struct {
	Pin       gpio.PinOut
	ActiveLow bool
}

// Set implements Switch.
func (p PinSwitch) Set(_ context.Context, on bool) error {
	level := gpio.Level(on != p.ActiveLow)
	if err := p.Pin.Out(level); err != nil {
		return fmt.Errorf("drive GPIO line %s %s: %w", p.Pin, level, err)
	}
	return nil
}

// SwitchFunc adapts a function (such as a hook runner running
// amp_on_command or amp_off_command) to a Switch.
type SwitchFunc func(ctx context.Context, on bool) error

// Set implements Switch.
func (f SwitchFunc) Set(ctx context.Context, on bool) error { return f(ctx, on) }

// Switches drives several switches as one: a relay line and an
// amp_on_command, say. On goes in order, off in reverse; every switch is
// tried even if one fails. An empty Switches does nothing (a mute line
// with no power switch).
type Switches []Switch

// Set implements Switch.
func (s Switches) Set(ctx context.Context, on bool) error {
	var errs []error
	for i := range s {
		sw := s[i]
		if !on {
			sw = s[len(s)-1-i]
		}
		if err := sw.Set(ctx, on); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

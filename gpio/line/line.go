// Package line finds the GPIO line a configuration names, on any Linux GPIO
// character device (/dev/gpiochip*), through periph.io's gpioioctl driver:
// by line name ("GPIO17", as the Raspberry Pi's pinctrl-bcm2835 chip names
// its lines) or by chip and offset ("gpiochip0:17", "9030000.pl061:4",
// "/dev/gpiochip0:17"). Only the character-device driver is loaded, never
// the memory-mapped Raspberry Pi driver, so the service needs access to
// /dev/gpiochip* and nothing else.
package line

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3/gpioioctl"
)

// Spec names one GPIO line.
type Spec struct {
	// Name is the line's name (as gpioinfo shows it) when Chip is empty.
	Name string
	// Chip is a chip's name ("gpiochip0"), label ("pinctrl-bcm2835") or
	// device path ("/dev/gpiochip0"); Offset is the line's number on it.
	Chip   string
	Offset int
}

func (s Spec) String() string {
	if s.Chip == "" {
		return s.Name
	}
	return s.Chip + ":" + strconv.Itoa(s.Offset)
}

// Parse reads a line as configured: "GPIO17" or "CHIP:OFFSET".
func Parse(s string) (Spec, error) {
	if s == "" {
		return Spec{}, errors.New("empty GPIO line (want a line name such as GPIO17, or chip:offset such as gpiochip0:17)")
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return Spec{}, fmt.Errorf("GPIO line %q: contains spaces or control characters", s)
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		if _, err := strconv.Atoi(s); err == nil {
			return Spec{}, fmt.Errorf("GPIO line %q: a bare number is ambiguous; write the line name (GPIO%s) or chip:offset (gpiochip0:%s)", s, s, s)
		}
		return Spec{Name: s}, nil
	}
	chip, off := s[:i], s[i+1:]
	if chip == "" {
		return Spec{}, fmt.Errorf("GPIO line %q: no chip before ':' (want e.g. gpiochip0:17)", s)
	}
	n, err := strconv.ParseUint(off, 10, 16)
	if err != nil {
		return Spec{}, fmt.Errorf("GPIO line %q: offset %q after ':' is not a line number 0..65535", s, off)
	}
	return Spec{Chip: chip, Offset: int(n)}, nil
}

// Chip is what Resolve needs of a GPIO chip; *gpioioctl.GPIOChip has it
// through ioctlChip.
type Chip interface {
	Name() string
	Label() string
	Path() string
	LineCount() int
	// Line returns the line at offset n, or nil.
	Line(n int) gpio.PinOut
	// LineNamed returns the line with this name, or nil.
	LineNamed(name string) gpio.PinOut
}

// Resolve finds spec among chips. A name not found on any chip is looked up
// in fallback (periph's registry), if given.
func Resolve(spec Spec, chips []Chip, fallback func(name string) gpio.PinOut) (gpio.PinOut, error) {
	if spec.Chip == "" {
		for _, c := range chips {
			if p := c.LineNamed(spec.Name); p != nil {
				return p, nil
			}
		}
		if fallback != nil {
			if p := fallback(spec.Name); p != nil {
				return p, nil
			}
		}
		return nil, fmt.Errorf("GPIO line %q: no line has this name (lines without names are reached as chip:offset); %s", spec.Name, describe(chips))
	}
	for _, c := range chips {
		if c.Name() != spec.Chip && c.Label() != spec.Chip && c.Path() != spec.Chip {
			continue
		}
		if spec.Offset >= c.LineCount() {
			return nil, fmt.Errorf("GPIO line %s: chip %s (%s) has lines 0..%d only", spec, c.Name(), c.Label(), c.LineCount()-1)
		}
		if p := c.Line(spec.Offset); p != nil {
			return p, nil
		}
		return nil, fmt.Errorf("GPIO line %s: chip %s has no line %d", spec, c.Name(), spec.Offset)
	}
	return nil, fmt.Errorf("GPIO line %s: no chip named %q; %s", spec, spec.Chip, describe(chips))
}

func describe(chips []Chip) string {
	if len(chips) == 0 {
		return "no GPIO chips found (is /dev/gpiochip* present and readable by this user?)"
	}
	var b strings.Builder
	b.WriteString("found chips ")
	for i, c := range chips {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (label %q, %d lines)", c.Name(), c.Label(), c.LineCount())
	}
	return b.String()
}

// Open loads periph's GPIO character-device driver and returns the line
// spec names, not yet driven (the relay drives it off first thing).
func Open(spec Spec) (gpio.PinOut, error) {
	if _, err := driverreg.Init(); err != nil {
		return nil, fmt.Errorf("load GPIO character-device driver: %w", err)
	}
	return Resolve(spec, Chips(), func(name string) gpio.PinOut {
		if p := gpioreg.ByName(name); p != nil {
			return p
		}
		return nil
	})
}

// Chips lists the GPIO chips periph's driver found (after Open or
// driverreg.Init).
func Chips() []Chip {
	var out []Chip
	for _, c := range gpioioctl.Chips {
		out = append(out, ioctlChip{c})
	}
	return out
}

type ioctlChip struct{ *gpioioctl.GPIOChip }

func (c ioctlChip) Line(n int) gpio.PinOut {
	if n < 0 || n >= c.LineCount() {
		return nil
	}
	return c.ByNumber(n)
}

func (c ioctlChip) LineNamed(name string) gpio.PinOut {
	if l := c.ByName(name); l != nil {
		return l
	}
	return nil
}

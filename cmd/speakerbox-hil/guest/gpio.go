package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3/gpioioctl"

	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/plan"
)

const debugGPIO = "/sys/kernel/debug/gpio"

// chipByLabel finds a GPIO chip by its label ("9030000.pl061").
func chipByLabel(label string) (*gpioioctl.GPIOChip, error) {
	if _, err := driverreg.Init(); err != nil {
		return nil, fmt.Errorf("periph init: %w", err)
	}
	var have []string
	for _, c := range gpioioctl.Chips {
		if c.Label() == label {
			return c, nil
		}
		have = append(have, c.Name()+"="+c.Label())
	}
	return nil, fmt.Errorf("no GPIO chip labelled %q (have %v)", label, have)
}

// debugLine is one line's state as the kernel's debugfs shows it.
type debugLine struct {
	Chip     string // chip label from the section header
	Base     int    // first global number of the chip
	Number   int    // global number (gpio-N)
	Name     string // line name, "" if none
	Consumer string // "" when not requested
	State    string // "out hi", "out lo", "in lo", ... ("" when not requested)
}

var (
	debugChipRE = regexp.MustCompile(`^gpiochip\d+: GPIOs (\d+)-\d+, .*?([^ ,:]+):\s*$`)
	debugLineRE = regexp.MustCompile(`^\s*gpio-(\d+)\s+\(([^|)]*)(?:\|([^)]*))?\)\s*(.*)$`)
)

// parseDebugGPIO reads /sys/kernel/debug/gpio.
func parseDebugGPIO(s string) []debugLine {
	var out []debugLine
	chip, base := "", 0
	for _, l := range strings.Split(s, "\n") {
		if m := debugChipRE.FindStringSubmatch(l); m != nil {
			base, _ = strconv.Atoi(m[1])
			chip = m[2]
			continue
		}
		m := debugLineRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		st := strings.Fields(m[4])
		state := ""
		if len(st) >= 2 {
			state = st[0] + " " + st[1]
		}
		out = append(out, debugLine{Chip: chip, Base: base, Number: n,
			Name: strings.TrimSpace(m[2]), Consumer: strings.TrimSpace(m[3]), State: state})
	}
	return out
}

func readDebugLine(match func(debugLine) bool) (debugLine, bool) {
	b, err := os.ReadFile(debugGPIO)
	if err != nil {
		return debugLine{}, false
	}
	for _, l := range parseDebugGPIO(string(b)) {
		if match(l) {
			return l, true
		}
	}
	return debugLine{}, false
}

// gpioSelf drives a line through known levels with periph.io and marks
// each change, so the host can check the trace and the clock correlation
// before trusting them with speakerbox's relay.
func (a *agent) gpioSelf(s plan.Step) error {
	chip, err := chipByLabel(s.ChipLabel)
	if err != nil {
		return err
	}
	line := chip.ByNumber(s.Line)
	if line == nil {
		return fmt.Errorf("chip %s has no line %d", chip.Name(), s.Line)
	}
	seen := []string{}
	for _, step := range []struct {
		lvl  gpio.Level
		ev   string
		hold time.Duration
	}{{gpio.Low, "set-lo-1", 150 * time.Millisecond}, {gpio.High, "set-hi", 250 * time.Millisecond}, {gpio.Low, "set-lo-2", 50 * time.Millisecond}} {
		if err := line.Out(step.lvl); err != nil {
			return fmt.Errorf("drive %s line %d %v: %w", chip.Name(), s.Line, step.lvl, err)
		}
		a.mark(s.ID, step.ev, time.Now())
		if d, ok := readDebugLine(func(d debugLine) bool { return d.Chip == s.ChipLabel && d.Number-d.Base == s.Line }); ok {
			seen = append(seen, d.State)
		}
		time.Sleep(step.hold)
	}
	want := "out lo,out hi,out lo"
	name := ""
	if line.Name() != "" {
		name = fmt.Sprintf(" (named %s)", line.Name())
	}
	a.check(s.ID, strings.Join(seen, ",") == want && (s.LineName == "" || line.Name() == s.LineName),
		"periph.io drove %s (%s) line %d%s lo/hi/lo; debugfs showed %s",
		chip.Name(), chip.Label(), s.Line, name, strings.Join(seen, ","))

	// What a relay sees when the process holding the line dies: the
	// kernel releases the line exactly as when its file is closed. Drive
	// it high, close it, and look at the pin afterwards.
	if err := line.Out(gpio.High); err != nil {
		return fmt.Errorf("drive line %d high: %w", s.Line, err)
	}
	a.mark(s.ID, "release-high", time.Now())
	line.Close()
	time.Sleep(150 * time.Millisecond)
	a.mark(s.ID, "released", time.Now())
	after, _ := readDebugLine(func(d debugLine) bool { return d.Chip == s.ChipLabel && d.Number-d.Base == s.Line })
	a.check(s.ID+"-release", true, "line %d driven high, then released by closing it: debugfs %s; pinctrl %q",
		s.Line, describe([]debugLine{after}), pinctrlState(s.Line))
	return nil
}

// lineWatch polls debugfs for one named line and keeps every change.
type lineWatch struct {
	mu      sync.Mutex
	states  []debugLine
	times   []time.Time
	firstHi chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

func watchLine(match func(debugLine) bool, every time.Duration) *lineWatch {
	w := &lineWatch{firstHi: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		hi := false
		for {
			if d, ok := readDebugLine(match); ok {
				w.mu.Lock()
				if n := len(w.states); n == 0 || w.states[n-1] != d {
					w.states = append(w.states, d)
					w.times = append(w.times, time.Now())
				}
				w.mu.Unlock()
				if !hi && d.State == "out hi" {
					hi = true
					close(w.firstHi)
				}
			}
			select {
			case <-w.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return w
}

func (w *lineWatch) Stop() []debugLine {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.states
}

func describe(states []debugLine) string {
	var parts []string
	for _, d := range states {
		st := d.State
		if d.Consumer == "" {
			st = "free"
		}
		parts = append(parts, fmt.Sprintf("%s[%s]", st, d.Consumer))
	}
	return strings.Join(parts, " -> ")
}

// relayByName runs speakerbox with the relay configured by line name and
// watches that line in debugfs: it must be the named line of the named
// chip that goes high, driven by speakerbox, and low again at the end.
// With Signal "KILL" the player is killed while the relay is on, and the
// pin's state after the kernel released it is reported.
func (a *agent) relayByName(s plan.Step) error {
	w := watchLine(func(d debugLine) bool { return d.Name == s.LineName }, 5*time.Millisecond)
	c, err := a.start(s.ID, s.Bin, append(append([]string{"play"}, s.Args...), s.File))
	if err != nil {
		w.Stop()
		return err
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	if s.Signal == "KILL" {
		select {
		case <-w.firstHi:
			time.Sleep(s.SignalAfter)
			_ = c.cmd.Process.Signal(syscall.SIGKILL)
		case <-c.done:
		case <-time.After(timeout):
		}
	}
	code, timedOut := c.wait(timeout)
	time.Sleep(s.Linger)
	states := w.Stop()
	out := c.output()
	if timedOut {
		a.check(s.ID, false, "speakerbox play did not finish within %v: %s", timeout, lastLines(out, 3))
		return nil
	}
	var driven *debugLine
	for i := range states {
		if states[i].State == "out hi" {
			driven = &states[i]
			break
		}
	}
	if driven == nil {
		a.check(s.ID, false, "line %s never went high (%s; %s): %s", s.LineName, describe(states), exitText(c), lastLines(out, 3))
		return nil
	}
	if s.Signal == "KILL" {
		pin := pinctrlState(driven.Number - driven.Base)
		last := states[len(states)-1]
		a.check(s.ID, true, "SIGKILL while %s was high: afterwards debugfs shows %s, pinctrl shows %q",
			s.LineName, describe([]debugLine{last}), pin)
		return nil
	}
	if code != 0 {
		a.check(s.ID, false, "speakerbox play: %s: %s", exitText(c), lastLines(out, 3))
		return nil
	}
	last := states[len(states)-1]
	ok := driven.Chip == s.ChipLabel && driven.Number-driven.Base == s.Line &&
		strings.Contains(driven.Consumer, filepath.Base(s.Bin)[:min(len(filepath.Base(s.Bin)), 10)]) &&
		(last.State == "out lo" || last.Consumer == "")
	a.check(s.ID, ok, "relay_line %s -> %s line %d (gpio-%d), consumer %q; states %s",
		s.LineName, driven.Chip, driven.Number-driven.Base, driven.Number, driven.Consumer, describe(states))
	return nil
}

// pinctrlState reads what the pin controller says about a pin: on the Pi
// the function (gpio_in/gpio_out) and the level, which is what a relay
// sees once no process holds the line.
func pinctrlState(pin int) string {
	files, _ := filepath.Glob("/sys/kernel/debug/pinctrl/*/pins")
	re := regexp.MustCompile(fmt.Sprintf(`^pin %d \(`, pin))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if re.MatchString(l) {
				return strings.TrimSpace(l)
			}
		}
	}
	return "(no pinctrl entry)"
}

// appliance brings up the network the way the image's init scripts will,
// starts `speakerbox run` in the background and waits: the host checks
// the ZeroConf API through the forwarded port and then ends the VM.
func (a *agent) appliance(s plan.Step) error {
	if err := waitFor("/sys/class/net/eth0", 5*time.Second); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	for _, cmd := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "set", "eth0", "up"},
		{"ip", "addr", "add", "10.0.2.15/24", "dev", "eth0"},
		{"ip", "route", "add", "default", "via", "10.0.2.2"},
	} {
		if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(cmd, " "), err, out)
		}
	}
	if err := os.MkdirAll("/var/lib/speakerbox", 0o700); err != nil {
		return err
	}
	var watch *lineWatch
	if s.ChipLabel != "" {
		watch = watchLine(func(d debugLine) bool { return d.Chip == s.ChipLabel && d.Number-d.Base == s.Line }, 20*time.Millisecond)
	}
	c, err := a.start(s.ID, s.Bin, append([]string{"run"}, s.Args...))
	if err != nil {
		return err
	}
	a.mark(s.ID, "started", time.Now())
	if watch != nil {
		// Say once when speakerbox has claimed the relay line and at what
		// level; the host ends the VM whenever it is done.
		go func() {
			for i := 0; i < 500; i++ {
				watch.mu.Lock()
				for j, d := range watch.states {
					if d.Consumer != "" && strings.HasPrefix(d.State, "out") {
						t := watch.times[j]
						watch.mu.Unlock()
						a.mark(s.ID, "relay-claimed-"+strings.TrimPrefix(d.State, "out "), t)
						return
					}
				}
				watch.mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	code, _ := c.wait(s.Timeout)
	a.check(s.ID, false, "speakerbox run ended (%s, code %d) before the host was done: %s", exitText(c), code, lastLines(c.output(), 3))
	return nil
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
)

// No GPIO chip exists on the machines the tests run on, so the test binary
// brings a periph driver of its own, the way a board driver would: it
// registers lines SBTEST_RELAY and SBTEST_MUTE whose level is written to a
// file in $SBTEST_GPIO_DIR (and appended to a .log file), where the test,
// another process, reads it. The program under test finds them by name
// through periph's registry, like GPIO17 on a Pi.
type fileLineDriver struct{}

func (fileLineDriver) String() string          { return "sbtest-file-gpio" }
func (fileLineDriver) Prerequisites() []string { return nil }
func (fileLineDriver) After() []string         { return nil }

func (fileLineDriver) Init() (bool, error) {
	dir := os.Getenv("SBTEST_GPIO_DIR")
	if dir == "" {
		return false, errors.New("no SBTEST_GPIO_DIR: not under a GPIO test")
	}
	for _, name := range []string{"SBTEST_RELAY", "SBTEST_MUTE"} {
		if err := gpioreg.Register(&fileLine{Pin: gpiotest.Pin{N: name}, path: filepath.Join(dir, name)}); err != nil {
			return true, err
		}
	}
	return true, nil
}

type fileLine struct {
	gpiotest.Pin
	path string
	mu   sync.Mutex
}

func (l *fileLine) Out(level gpio.Level) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := "0"
	if level {
		v = "1"
	}
	if err := os.WriteFile(l.path, []byte(v), 0o600); err != nil {
		return err
	}
	f, err := os.OpenFile(l.path+".log", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(v)
	return err
}

func init() {
	driverreg.MustRegister(fileLineDriver{})
	// A child of TestSafeState: a playing command in one of the ways a
	// process can end. It runs main's own exit machinery (signals, panic
	// recovery, the guard) around a body that switches the relay on.
	if mode := os.Getenv("SBTEST_SAFESTATE"); mode != "" {
		os.Exit(safeStateChild(mode))
	}
}

func safeStateChild(mode string) int {
	set := config.NewSet()
	loaded, err := set.Load(config.Env{Environ: os.Environ(), Hostname: "test"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitUsage
	}
	a := &app{cfg: loaded.Config, loaded: loaded, stdout: os.Stdout, stderr: os.Stderr, guard: &exitGuard{}}
	a.log = newLogger(os.Stderr, os.Getenv, parseLevel("debug"))
	return a.execute(context.Background(), func(ctx context.Context, a *app, _ []string) error {
		out, _, err := openOutput(ctx, a, nil)
		if err != nil {
			return err
		}
		defer closeOutput(a, out)
		// What the player does before its first sample.
		if err := out.BeforeOpen(ctx); err != nil {
			return err
		}
		out.Playing("track", 0, time.Minute)
		fmt.Println("PLAYING")
		// Wait until the parent has seen the relay on, so an early exit
		// (fatal, panic) cannot switch it off before the parent looks.
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		switch mode {
		case "signal":
			<-ctx.Done()
			return nil
		case "fatal":
			return errors.New("the audio device went away")
		case "panic":
			a.Go(func() { panic("bug in an owned goroutine") })
		case "panic-main":
			panic("bug in the command")
		case "hang":
			// Ignores the cancelled context: the grace timer must act.
			<-ctx.Done()
			select {}
		}
		select {}
	}, nil)
}

type child struct {
	cmd    *exec.Cmd
	stderr syncBuffer // written by exec's copier while the test reads it
	dir    string
}

func startChild(t *testing.T, mode string) *child {
	t.Helper()
	c := &child{dir: t.TempDir()}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(cleanEnv(),
		"SBTEST_SAFESTATE="+mode,
		"GORACE=atexit_sleep_ms=0",
		"SBTEST_GPIO_DIR="+c.dir,
		"SPEAKERBOX_GPIO_RELAY_LINE=SBTEST_RELAY",
		"SPEAKERBOX_GPIO_MUTE_LINE=SBTEST_MUTE",
		"SPEAKERBOX_GPIO_WARMUP=10ms",
		"SPEAKERBOX_STATE_DIR="+filepath.Join(c.dir, "state"),
	)
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("PLAYING\n"))
	if _, err := io.ReadFull(stdout, buf); err != nil || string(buf) != "PLAYING\n" {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
		t.Fatalf("child did not start playing (%q, %v):\n%s", buf, err, c.stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if got := c.level(t, "SBTEST_RELAY"); got != "1" {
		_ = c.cmd.Process.Kill()
		t.Fatalf("relay %q while playing, want 1", got)
	}
	_, _ = stdin.Write([]byte("go\n"))
	return c
}

func (c *child) level(t *testing.T, line string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, line))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (c *child) wait(t *testing.T) int {
	t.Helper()
	err := c.cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	}
	t.Fatal(err)
	return 0
}

// TestSafeState ends a playing process in every way the issue lists and
// checks that the relay line is off afterwards, with the mute line asserted
// before it dropped.
func TestSafeState(t *testing.T) {
	cases := []struct {
		mode     string
		signal   syscall.Signal
		wantCode int
	}{
		{"signal", syscall.SIGTERM, exitOK},
		{"signal", syscall.SIGINT, exitOK},
		{"fatal", 0, exitFailure},
		{"panic", 0, exitPanic},
		{"panic-main", 0, exitPanic},
		{"hang", syscall.SIGTERM, exitFailure},
		// A second signal cuts a hung shutdown short at once.
		{"hang-twice", syscall.SIGTERM, exitForced},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%v", c.mode, c.signal), func(t *testing.T) {
			mode := c.mode
			if mode == "hang-twice" {
				mode = "hang"
			}
			ch := startChild(t, mode)
			if c.signal != 0 {
				_ = ch.cmd.Process.Signal(c.signal)
			}
			if c.mode == "hang-twice" {
				// The second signal once the first has started the
				// shutdown (two sent at once may reach the process as
				// one). "At once" is the exit code: the grace timer's
				// exit is exitFailure, only the second signal's is
				// exitForced.
				deadline := time.Now().Add(30 * time.Second)
				for !strings.Contains(ch.stderr.String(), "shutting down") {
					if time.Now().After(deadline) {
						_ = ch.cmd.Process.Kill()
						t.Fatalf("no shutdown after the first signal:\n%s", ch.stderr.String())
					}
					time.Sleep(5 * time.Millisecond)
				}
				_ = ch.cmd.Process.Signal(c.signal)
			}
			code := ch.wait(t)
			if code != c.wantCode {
				t.Errorf("exit code %d, want %d\n%s", code, c.wantCode, ch.stderr.String())
			}
			if got := ch.level(t, "SBTEST_RELAY"); got != "0" {
				t.Fatalf("relay line %q after %s, want 0 (off)\n%s", got, c.mode, ch.stderr.String())
			}
			// Start: mute asserted, relay off. Play: relay on, unmute. End:
			// mute asserted before the relay dropped (the exit guard may
			// repeat the off; that is harmless).
			relayLog, _ := os.ReadFile(filepath.Join(ch.dir, "SBTEST_RELAY.log"))
			muteLog, _ := os.ReadFile(filepath.Join(ch.dir, "SBTEST_MUTE.log"))
			if !strings.HasPrefix(string(relayLog), "010") || !strings.HasPrefix(string(muteLog), "101") {
				t.Errorf("relay levels %q, mute levels %q", relayLog, muteLog)
			}
			if strings.HasPrefix(c.mode, "panic") && !strings.Contains(ch.stderr.String(), "internal error") {
				t.Errorf("panic not logged:\n%s", ch.stderr.String())
			}
		})
	}
}

// SIGKILL runs none of our code: the line keeps the level it had (what the
// kernel then does with a released line depends on the driver; the README
// tells owners to wire for it). The systemd unit's ExecStopPost runs
// `speakerbox doctor gpio --off` after any end of the main process; this is
// that path.
func TestSafeStateAfterSIGKILL(t *testing.T) {
	ch := startChild(t, "kill")
	_ = ch.cmd.Process.Kill()
	if code := ch.wait(t); code != -int(syscall.SIGKILL) {
		t.Fatalf("exit %d", code)
	}
	if got := ch.level(t, "SBTEST_RELAY"); got != "1" {
		t.Fatalf("relay line %q after SIGKILL; the fake line should keep its level", got)
	}
	cmd := speakerbox(t, []string{"SBTEST_GPIO_DIR=" + ch.dir, "SPEAKERBOX_GPIO_RELAY_LINE=SBTEST_RELAY"}, "doctor", "gpio", "--off")
	stdout, stderr, code := runCmd(t, cmd)
	if code != 0 {
		t.Fatalf("doctor gpio --off: exit %d\n%s%s", code, stdout, stderr)
	}
	if got := ch.level(t, "SBTEST_RELAY"); got != "0" {
		t.Fatalf("relay line %q after ExecStopPost's doctor gpio --off", got)
	}
}

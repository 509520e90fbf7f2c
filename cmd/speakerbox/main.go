// Command speakerbox is a Spotify Connect speaker: one static binary that
// advertises itself on the network, takes a login from a phone, plays, and
// switches the amplifier. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
	"github.com/speakerbox/speakerbox/internal/statedir"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

// Exit codes; README.md documents them.
const (
	exitOK      = 0   // success, or an orderly shutdown after SIGINT/SIGTERM
	exitFailure = 1   // a runtime error, or shutdown took longer than shutdownGrace
	exitUsage   = 2   // bad command line or configuration
	exitPanic   = 70  // an internal error (panic); the amplifier was switched off first
	exitForced  = 130 // a second signal cut the shutdown short
	// exitInterrupted: a command waiting for its owner (login) was
	// interrupted before it changed anything.
	exitInterrupted = 130
)

// shutdownGrace bounds the orderly shutdown after the first signal.
const shutdownGrace = 2 * time.Second

// defaultConfigPath is read when it exists and no other file is named.
const defaultConfigPath = "/etc/speakerbox/speakerbox.yaml"

// command is one subcommand. setup registers the command's own flags and
// returns the function that runs it.
type command struct {
	name    string
	args    string // synopsis of positional arguments
	summary string
	// noConfig: the command does not take the configuration flags.
	noConfig bool
	// subOptions: a later word takes options of its own (doctor TOPIC,
	// credentials export), so options this level does not know are passed
	// on with the arguments instead of refused here.
	subOptions bool
	setup      func(fs *flag.FlagSet) runFunc
}

type runFunc func(ctx context.Context, a *app, args []string) error

// commands lists every subcommand, in the order --help shows them.
func commands() []*command {
	return []*command{
		runCommand(),
		authCommand(),
		loginCommand(),
		credentialsCommand(),
		doctorCommand(),
		playCommand(),
		firstbootCommand(),
		timesyncCommand(),
		versionCommand(),
	}
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct {
	msg string
	// named: msg begins with the command's own name ("speakerbox play:"),
	// so it is printed without the generic "speakerbox:" prefix.
	named bool
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// app is what a running command is handed.
type app struct {
	cfg    *config.Config
	loaded *config.Loaded
	log    *slog.Logger
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	guard  *exitGuard
	// logs keeps the newest log lines for the report (logring.go).
	logs *logRing
	// spotify, when set, replaces the way to Spotify (tests route it to a
	// wire-level fake); nil is the real service.
	spotify func(deviceID string) spotifyAccess
	// restart is POST /restart (restart.go).
	restart *restarter
}

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func realMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return realMainRestart(context.Background(), nil, reexecSelf, args, stdin, stdout, stderr)
}

// realMainWith is realMain under ctx (its end stops the command as a
// signal would) and with spotify, when not nil, in place of the real way to
// Spotify: in-process tests run the whole speaker against a fake with it.
func realMainWith(ctx context.Context, spotify func(deviceID string) spotifyAccess, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return realMainRestart(ctx, spotify, nil, args, stdin, stdout, stderr)
}

// realMainRestart is realMainWith with the way a restart starts the
// process again: nil only stops it (in-process tests must not exec).
func realMainRestart(ctx context.Context, spotify func(deviceID string) spotifyAccess, reexec func() error, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmds := commands()
	name := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	} else if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		topUsage(stdout, cmds)
		return exitOK
	}
	if name == "help" {
		if len(args) == 0 {
			topUsage(stdout, cmds)
			return exitOK
		}
		name, args = args[0], []string{"--help"}
	}
	var cmd *command
	for _, c := range cmds {
		if c.name == name {
			cmd = c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "speakerbox: unknown command %q\n\n", name)
		topUsage(stderr, cmds)
		return exitUsage
	}

	fs := flag.NewFlagSet("speakerbox "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var set *config.Set
	if !cmd.noConfig {
		set = config.NewSet()
		set.RegisterFlags(fs)
	}
	run := cmd.setup(fs)
	fs.Usage = func() { commandUsage(fs.Output(), fs, cmd) }
	args, err := parseArgs(fs, args, cmd.subOptions)
	if errors.Is(err, errHelp) {
		fs.SetOutput(stdout)
		commandUsage(stdout, fs, cmd)
		return exitOK
	}
	if err != nil {
		// One line that names the mistake; the option list is one
		// --help away rather than pushing the message off the screen.
		fmt.Fprintln(stderr, err)
		return exitUsage
	}

	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, guard: &exitGuard{}, spotify: spotify, restart: newRestarter(reexec)}
	a.setLogger(stderr, slog.LevelInfo)
	if set != nil {
		host, _ := os.Hostname()
		loaded, err := set.Load(config.Env{
			Environ:           os.Environ(),
			Hostname:          host,
			DefaultStateDir:   statedir.Default(os.Getenv, os.Getuid()),
			DefaultConfigPath: defaultConfigPath,
		})
		if err != nil {
			fmt.Fprintln(stderr, "speakerbox:", err)
			return exitUsage
		}
		a.cfg, a.loaded = loaded.Config, loaded
		a.setLogger(stderr, parseLevel(a.cfg.LogLevel))
	}

	return a.execute(ctx, run, args)
}

// execute runs a command under the safe-exit rules: signals cancel its
// context, a panic is recovered, and the guard's safe-state actions run on
// every way out.
func (a *app) execute(parent context.Context, run runFunc, args []string) (code int) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	stopSignals := handleSignals(cancel, a)
	defer func() {
		stopSignals()
		code = a.restart.after(a, code) // returns only if there is no restart
	}()

	defer func() {
		if r := recover(); r != nil {
			code = a.crashed(r)
		}
	}()
	err := run(ctx, a, args)
	a.guard.Run()
	return exitCode(err, a.stderr)
}

func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	var ce *config.Error
	var ie *interruptedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ie):
		fmt.Fprintln(stderr, "speakerbox:", err)
		return exitInterrupted
	case errors.As(err, &ue) && ue.named:
		fmt.Fprintln(stderr, err)
		return exitUsage
	case errors.As(err, &ue), errors.As(err, &ce):
		fmt.Fprintln(stderr, "speakerbox:", err)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "speakerbox:", err)
		return exitFailure
	}
}

// handleSignals cancels ctx on the first SIGINT or SIGTERM, or on a
// restart asked for (restart.go). If the command
// has not returned within shutdownGrace, or a second signal arrives, the
// safe-state handlers run and the process exits at once.
func handleSignals(cancel context.CancelFunc, a *app) (stop func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	var signalled atomic.Bool
	go func() {
		select {
		case sig := <-ch:
			signalled.Store(true)
			a.log.Info("shutting down", "signal", sig.String())
			cancel()
		case <-a.restart.triggered():
			// The same way out as SIGTERM, bounded by the same grace.
			a.log.Info("shutting down to restart")
			cancel()
		case <-done:
			return
		}
		t := time.NewTimer(shutdownGrace)
		defer t.Stop()
		select {
		case sig := <-ch:
			a.log.Warn("second signal: exiting at once", "signal", sig.String())
			a.guard.Run()
			os.Exit(exitForced)
		case <-t.C:
			a.log.Error("shutdown did not finish in time; exiting", "grace", shutdownGrace)
			a.guard.Run()
			os.Exit(exitFailure)
		case <-done:
		}
	}()
	return func() {
		close(done)
		// After the shutdown a signal asked for, the signals stay caught
		// (and dropped) until the process exits: a supervisor that sends
		// its TERM once more would otherwise meet the default action and
		// turn a clean exit into "killed by SIGTERM" (seen with BusyBox's
		// init script). Otherwise the default comes back, for a restart's
		// exec and for in-process callers.
		if !signalled.Load() {
			signal.Stop(ch)
		}
	}
}

// crashed handles a panic: log it with its stack, put the hardware in its
// safe state, and return the exit code.
func (a *app) crashed(r any) int {
	a.log.Error("internal error", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	a.guard.Run()
	return exitPanic
}

// Go runs fn in a goroutine the program owns: a panic in it is not left to
// kill the process with the amplifier on, but switches everything to its safe
// state first and exits with exitPanic.
func (a *app) Go(fn func()) {
	go func() {
		defer func() {
			if r := recover(); r != nil {
				os.Exit(a.crashed(r))
			}
		}()
		fn()
	}()
}

func topUsage(w io.Writer, cmds []*command) {
	fmt.Fprintf(w, "speakerbox %s: a Spotify Connect speaker\n\nUsage:\n  speakerbox [COMMAND] [OPTIONS] [ARGS]\n\nCommands:\n", version)
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nWith no command, speakerbox runs the speaker (\"run\").\n"+
		"\"speakerbox COMMAND --help\" lists the options of a command.\n"+
		"Every configuration key can be set in %s (or --config FILE),\n"+
		"by environment variable SPEAKERBOX_<KEY> or by flag --<key>; flags win over the\n"+
		"environment, which wins over the settings saved from the web page\n"+
		"(settings.yaml in the state directory), which win over the file.\n", defaultConfigPath)
}

func commandUsage(w io.Writer, fs *flag.FlagSet, cmd *command) {
	fmt.Fprintf(w, "speakerbox %s: %s\n\nUsage:\n  speakerbox %s [OPTIONS] %s\n\n"+
		"Options may also follow the arguments; \"--\" ends them.\n\nOptions:\n", cmd.name, cmd.summary, cmd.name, cmd.args)
	// Command options first, then the configuration keys, each sorted.
	var own, cfg []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if cmd.noConfig || (f.Name != "config" && !strings.Contains(f.Name, ".") && !isTopKey(f.Name)) {
			own = append(own, f)
		} else {
			cfg = append(cfg, f)
		}
	})
	printFlags(w, own)
	if len(cfg) > 0 {
		fmt.Fprintf(w, "\nConfiguration (also SPEAKERBOX_<KEY> and the config file):\n")
		printFlags(w, cfg)
	}
}

func isTopKey(name string) bool {
	switch name {
	case "name", "device_type", "log_level", "state_dir":
		return true
	}
	return false
}

func printFlags(w io.Writer, flags []*flag.Flag) {
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	for _, f := range flags {
		arg, usage := flag.UnquoteUsage(f)
		if arg != "" {
			arg = " " + arg
		}
		fmt.Fprintf(w, "  --%s%s\n        %s\n", f.Name, arg, usage)
	}
}

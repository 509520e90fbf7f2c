package hooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/speakerbox/speakerbox/internal/redact"
)

// Config sets up a Runner.
type Config struct {
	// OnEvent is the hooks.on_event command, run by Shell -c for every
	// event; empty means events are not run.
	OnEvent string
	// Timeout ends a hook that runs longer: its whole process group is
	// killed. Zero means DefaultTimeout.
	Timeout time.Duration
	// Env is hooks.env: extra "NAME=value" entries every hook gets (tokens
	// need not sit in command lines). Never logged.
	Env []string
	// BaseEnv is the environment hooks start from; nil means ours.
	BaseEnv []string
	// Shell runs the commands; empty means /bin/sh.
	Shell string
	// Queue is how many events may wait for the on_event hook before new
	// ones are dropped (logged); zero means DefaultQueue.
	Queue int
	// Tap, if set, sees every event handed to Emit, Run or Queue, in that
	// order, whether or not OnEvent is set (the local API's live events).
	// It runs in the caller's goroutine and must not block.
	Tap func(Event)
	Log *slog.Logger
}

// Defaults.
const (
	DefaultTimeout = 10 * time.Second
	DefaultQueue   = 256
	// waitDelay bounds the wait for a killed hook to be reaped.
	waitDelay = 2 * time.Second
	// outputGrace is how long a finished hook's output may take to reach
	// the log before the run returns; a background process the hook left
	// holding its output must not hold the caller (the player) up.
	outputGrace = 100 * time.Millisecond
	// maxOutput is how much of one run's output reaches the log.
	maxOutput = 16 << 10
)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// Runner runs hooks. Events sent with Emit or Run run one after another in
// the order they came, in the Runner's own goroutine: one queue, so the
// order hooks see is the order in which the events were handed in. Emit
// never blocks the caller; Run waits for its event's turn and its end
// (sink events, which must finish before the device opens). Command runs
// at once in the caller's goroutine (the amplifier commands).
type Runner struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	queue   []queued
	closed  bool
	dropped int
	wake    chan struct{} // one pending wake-up for the worker

	ctx    context.Context // ends the hook in progress on a forced Close
	cancel context.CancelFunc
	done   chan struct{} // the worker has returned

	// Output readers outlive a hook whose background children keep its
	// output open; Close ends them.
	outMu   sync.Mutex
	outs    map[*os.File]struct{}
	readers sync.WaitGroup
}

// queued is an event waiting for the on_event hook; done, if set, is closed
// once it ran (Run waits for it), and ctx bounds it then.
type queued struct {
	ev      Event
	ctx     context.Context
	done    chan error
	barrier bool // Flush: nothing to run
}

// New checks cfg and starts the worker that runs emitted events; Close stops
// it.
func New(cfg Config) (*Runner, error) {
	for i, kv := range cfg.Env {
		if !envName.MatchString(kv) {
			// Name only: the value may be a secret, and so may an entry
			// that lacks its '='.
			name, _, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("hooks.env entry %d: no '=' (want NAME=value)", i+1)
			}
			return nil, fmt.Errorf("hooks.env entry %d: name %q is not letters, digits and _ (want NAME=value)", i+1, name)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Shell == "" {
		cfg.Shell = "/bin/sh"
	}
	if cfg.BaseEnv == nil {
		cfg.BaseEnv = os.Environ()
	}
	r := &Runner{cfg: cfg, log: cfg.Log, wake: make(chan struct{}, 1), done: make(chan struct{}), outs: map[*os.File]struct{}{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.work()
	return r, nil
}

// Emit queues ev for the on_event hook and returns at once. Events beyond
// the queue's size, or after Close, are dropped and logged.
func (r *Runner) Emit(ev Event) {
	if r.cfg.Tap != nil {
		r.cfg.Tap(ev)
	}
	if r.cfg.OnEvent == "" {
		return
	}
	r.mu.Lock()
	if r.closed || len(r.queue) >= r.cfg.Queue {
		r.dropped++
		n := r.dropped
		r.mu.Unlock()
		r.log.Warn("hook event dropped: queue full or shutting down", "event", ev.Name, "dropped_total", n)
		return
	}
	r.queue = append(r.queue, queued{ev: ev})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run runs the on_event hook for ev after the events queued before it, and
// returns when it has finished (librespot's sink events: "running" before
// the device opens). ctx bounds the wait and the hook. A failure is logged
// and returned; callers go on regardless.
func (r *Runner) Run(ctx context.Context, ev Event) error { return r.Queue(ctx, ev)() }

// Queue is Run in two steps: it queues ev at once, and wait waits for its
// hook to have run. A caller that must queue in step with its own state
// changes queues under its lock and waits outside it. The queue's limit
// does not apply (the caller waits); after Close the hook runs in wait.
func (r *Runner) Queue(ctx context.Context, ev Event) (wait func() error) {
	if r.cfg.Tap != nil {
		r.cfg.Tap(ev)
	}
	if r.cfg.OnEvent == "" {
		return func() error { return nil }
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return func() error { return r.exec(ctx, "on_event", r.cfg.OnEvent, ev) }
	}
	done := make(chan error, 1)
	r.queue = append(r.queue, queued{ev: ev, ctx: ctx, done: done})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return func() error {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			// The worker skips it, or ctx kills its hook.
			return fmt.Errorf("hook %s: %w", ev.Name, context.Cause(ctx))
		}
	}
}

// Flush waits until every event queued before it has run, or ctx ends. A
// command that ends normally flushes before Close, so that the last hooks
// (amp_off) run in full rather than within the shutdown's grace.
func (r *Runner) Flush(ctx context.Context) error {
	r.mu.Lock()
	if r.closed || r.cfg.OnEvent == "" {
		r.mu.Unlock()
		return nil
	}
	done := make(chan error, 1)
	r.queue = append(r.queue, queued{ctx: ctx, done: done, barrier: true})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for the queued hooks: %w", context.Cause(ctx))
	}
}

// Command runs command (amp_on_command, amp_off_command) with ev's
// variables and waits for it, within the timeout.
func (r *Runner) Command(ctx context.Context, what, command string, ev Event) error {
	return r.exec(ctx, what, command, ev)
}

// Close stops taking events and waits for the queued ones to run (amp_off
// at shutdown is one). When ctx ends first, the hook in progress is killed
// and the rest are dropped.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	var err error
	select {
	case <-r.done:
	case <-ctx.Done():
		err = fmt.Errorf("hooks still running at shutdown were killed: %w", context.Cause(ctx))
	}
	r.cancel()
	<-r.done
	// What is already in the pipes is still logged; then the readers stop.
	r.outMu.Lock()
	for f := range r.outs {
		if f.SetReadDeadline(time.Now().Add(outputGrace)) != nil {
			f.Close()
		}
	}
	r.outMu.Unlock()
	r.readers.Wait()
	return err
}

// readOutput logs what the hook writes, until every process holding the
// pipe has closed it or Close ends it. done is closed when it has finished.
func (r *Runner) readOutput(pr *os.File, log *slog.Logger) (done chan struct{}) {
	done = make(chan struct{})
	r.outMu.Lock()
	r.outs[pr] = struct{}{}
	r.outMu.Unlock()
	r.readers.Add(1)
	go func() {
		defer r.readers.Done()
		defer close(done)
		w := newLogWriter(log, maxOutput)
		_, _ = io.Copy(w, pr)
		w.Flush()
		r.outMu.Lock()
		delete(r.outs, pr)
		r.outMu.Unlock()
		pr.Close()
	}()
	return done
}

func (r *Runner) work() {
	defer close(r.done)
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			closed := r.closed
			r.mu.Unlock()
			if closed {
				return
			}
			<-r.wake
			continue
		}
		q := r.queue[0]
		r.queue = r.queue[1:]
		r.mu.Unlock()
		if q.barrier {
			q.done <- nil
			continue
		}
		if q.done != nil {
			// A Run: its caller's ctx bounds it (and a forced Close).
			ctx, stop := context.WithCancel(q.ctx)
			unhook := context.AfterFunc(r.ctx, stop)
			err := errors.Join(r.ctx.Err(), ctx.Err())
			if err == nil {
				err = r.exec(ctx, "on_event", r.cfg.OnEvent, q.ev)
			}
			unhook()
			stop()
			q.done <- err
			continue
		}
		if r.ctx.Err() != nil {
			r.log.Warn("hook event dropped at shutdown", "event", q.ev.Name)
			continue
		}
		_ = r.exec(r.ctx, "on_event", r.cfg.OnEvent, q.ev)
	}
}

// exec runs command with ev under Shell -c in a process group of its own,
// so that a timeout kills everything it started.
func (r *Runner) exec(ctx context.Context, what, command string, ev Event) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	log := r.log.With("hook", what, "event", ev.Name)
	cmd := exec.CommandContext(ctx, r.cfg.Shell, "-c", command)
	cmd.Env = append(append(append([]string{}, r.cfg.BaseEnv...), r.cfg.Env...), ev.Env()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The negative pid is the process group: the shell and all it
		// started, unless they left the group themselves.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = waitDelay
	// Our own pipe rather than exec's copying: Wait then returns when the
	// hook exits, even if something it started in the background still
	// holds its output.
	pr, pw, err := os.Pipe()
	if err != nil {
		err = fmt.Errorf("hook %s (%s): output pipe: %w", what, ev.Name, err)
		log.Warn("hook failed", "err", err)
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.Stdin = nil

	if log.Enabled(ctx, slog.LevelDebug) {
		log.Debug("running hook", "vars", logVars(ev))
	}
	start := time.Now()
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
	} else {
		output := r.readOutput(pr, log)
		err = cmd.Wait()
		t := time.NewTimer(outputGrace)
		select {
		case <-output:
		case <-t.C:
			log.Debug("hook left a background process holding its output")
		}
		t.Stop()
	}
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("hook %s (%s) killed after the %v timeout", what, ev.Name, r.cfg.Timeout)
	case err != nil && ctx.Err() != nil:
		err = fmt.Errorf("hook %s (%s) stopped: %w", what, ev.Name, context.Cause(ctx))
	case err != nil:
		err = fmt.Errorf("hook %s (%s): %w", what, ev.Name, err)
	}
	if err != nil {
		log.Warn("hook failed", "err", err, "took", took)
		return err
	}
	log.Debug("hook done", "took", took)
	return nil
}

// logVars is ev's variables for the debug log, the user name shortened.
func logVars(ev Event) []string {
	env := ev.Env()
	for i, kv := range env {
		if name, value, _ := strings.Cut(kv, "="); name == "USER_NAME" {
			env[i] = name + "=" + redact.Username(value)
		}
	}
	return env
}

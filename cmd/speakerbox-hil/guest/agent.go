package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/pcm"
	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/plan"
	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/report"
)

type agent struct {
	mu  sync.Mutex
	out io.Writer
	// held, when set, keeps the verdicts of the step being tried instead
	// of printing them, so a step starved of CPU can be tried again.
	held *[]string
}

// println writes one console line; lines from several goroutines (player
// output, marks) must not interleave.
func (a *agent) println(s string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fmt.Fprintln(a.out, s)
}

func (a *agent) check(id string, pass bool, format string, args ...any) {
	line := report.FormatCheck(id, pass, fmt.Sprintf(format, args...))
	a.mu.Lock()
	held := a.held
	if held != nil {
		*held = append(*held, line)
	}
	a.mu.Unlock()
	if held == nil {
		a.println(line)
	}
}

// starvedMark is in every failure that a loaded host can cause without
// any bug in speakerbox (the guest's one vCPU did not get enough time).
const starvedMark = "guest starved of CPU"

// maxAttempts bounds the tries of a play step that failed for want of CPU.
const maxAttempts = 3

// playWithRetry runs a play step, and once more if it failed only
// because the guest was starved; the retry is said in the verdict.
func (a *agent) playWithRetry(s plan.Step) {
	var first string
	for attempt := 1; ; attempt++ {
		var held []string
		a.mu.Lock()
		a.held = &held
		a.mu.Unlock()
		err := a.play(s)
		a.mu.Lock()
		a.held = nil
		a.mu.Unlock()
		retry := false
		if err != nil {
			// The harness's own trouble (the recorder could not start):
			// worth one more try, as is a run the guest was starved in.
			held = append(held, report.FormatCheck(s.ID, false, err.Error()))
			retry = true
		}
		for _, l := range held {
			if strings.Contains(l, starvedMark) && strings.Contains(l, " FAIL ") {
				retry = true
			}
		}
		if retry && attempt < maxAttempts {
			if first == "" {
				first = held[0]
			}
			a.println(fmt.Sprintf("hil: %s attempt %d failed (%s); trying again", s.ID, attempt, held[0]))
			continue
		}
		for _, l := range held {
			if first != "" && strings.Contains(l, " PASS ") {
				l += fmt.Sprintf(" (attempt %d; the first failed: %s)", attempt, strings.TrimPrefix(first, report.FormatCheck(s.ID, false, "")))
			}
			a.println(l)
		}
		return
	}
}

// mark reports an event that happened at t (guest monotonic clock); the
// host subtracts the age from the line's arrival time.
func (a *agent) mark(id, event string, t time.Time) {
	ago := time.Since(t)
	if ago < 0 {
		ago = 0
	}
	a.println(report.FormatMark(id, event, ago.Microseconds()))
}

func (a *agent) run(s plan.Step) {
	var err error
	switch s.Kind {
	case plan.KindLoopSelf:
		err = a.loopSelf(s)
	case plan.KindGPIOSelf:
		err = a.gpioSelf(s)
	case plan.KindPlay:
		a.playWithRetry(s)
	case plan.KindRelayByName:
		err = a.relayByName(s)
	case plan.KindAppliance:
		err = a.appliance(s)
	}
	if err != nil {
		a.check(s.ID, false, "%v", err)
	}
}

func readRef(p string) (pcm.Audio, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return pcm.Audio{}, fmt.Errorf("read reference: %w", err)
	}
	return pcm.ParseWAV(b)
}

// loopSelf proves the kernel side with nothing of speakerbox: our player,
// the loopback, our recorder, bit-exact.
func (a *agent) loopSelf(s plan.Step) error {
	ref, err := readRef(s.Ref)
	if err != nil {
		return err
	}
	card, err := loopbackCard()
	if err != nil {
		return err
	}
	dur := time.Duration(ref.Frames())*time.Second/time.Duration(ref.Format.Rate) + 2*time.Second
	if s.LockRate != 0 {
		// The premise of the locked-rate check: while the capture side
		// runs at LockRate, snd-aloop refuses any other playback rate.
		lf := ref.Format
		lf.Rate = s.LockRate
		rec, err := startRecorder(card, lf, time.Second)
		if err != nil {
			return err
		}
		lo, hi, perr := playbackRates(card)
		rec.Stop()
		if perr != nil {
			return perr
		}
		a.check(s.ID, lo == uint32(s.LockRate) && hi == lo, "while the capture side runs at %d Hz, hw:%d,0 offers playback rates %d..%d Hz",
			s.LockRate, card, lo, hi)
		return nil
	}
	rec, err := startRecorder(card, ref.Format, dur+s.StopFor)
	if err != nil {
		return err
	}
	var perr error
	if s.StopFor > 0 {
		// The same geometry as speakerbox's 500 ms buffer: 25 periods
		// of 20 ms.
		period := ref.Format.Rate / 50
		perr = playSelfWithStop(card, ref, period, 25, int(s.StopAfter.Seconds()*float64(ref.Format.Rate)), s.StopFor, s.SilenceFill)
	} else {
		perr = playSelf(card, ref)
	}
	time.Sleep(100 * time.Millisecond)
	capture, _, xruns, rerr := rec.Stop()
	if perr != nil {
		return perr
	}
	if rerr != nil {
		return fmt.Errorf("recorder: %w", rerr)
	}
	var m pcm.Match
	if s.StopFor > 0 {
		m, err = pcm.CompareWithGap(ref.Data, capture, ref.Format.FrameBytes(), 10*ref.Format.Rate)
	} else {
		m, err = pcm.Compare(ref.Data, capture, ref.Format.FrameBytes())
	}
	if err != nil {
		return err
	}
	if s.Measure {
		a.check(s.ID, xruns == 0, "measured: own player stopped %s with a 500 ms buffer and no silence fill: %v", s.StopFor, m)
		return nil
	}
	a.check(s.ID, m.Exact() && xruns == 0, "own player -> hw:%d,0 -> hw:%d,1 -> recorder, %v: %v, recorder xruns %d", card, card, ref.Format, m, xruns)
	return nil
}

// child is a speakerbox process whose output goes both to a buffer (for
// checks) and to the console (for the log tail the host prints on failure).
type child struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
	err  error
}

type prefixWriter struct {
	a      *agent
	c      *child
	prefix string
	line   []byte
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	w.c.buf.Write(p)
	w.c.mu.Unlock()
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			break
		}
		w.a.println(w.prefix + string(w.line[:i]))
		w.line = w.line[i+1:]
	}
	return len(p), nil
}

func (a *agent) start(id, bin string, args []string) (*child, error) {
	c := &child{done: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	w := &prefixWriter{a: a, c: c, prefix: "  " + id + "| "}
	c.cmd.Stdout, c.cmd.Stderr = w, w
	c.cmd.Env = append(os.Environ(), "HOME=/root", "TERM=dumb")
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// wait waits for the child to exit, killing it after d.
func (c *child) wait(d time.Duration) (exitCode int, timedOut bool) {
	select {
	case <-c.done:
	case <-time.After(d):
		_ = c.cmd.Process.Kill()
		<-c.done
		timedOut = true
	}
	return c.cmd.ProcessState.ExitCode(), timedOut
}

func exitText(c *child) string {
	ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exit status %d", c.cmd.ProcessState.ExitCode())
}

// lastLines picks the player's own words for a failure message: its
// error lines if it printed any, else the end of its output.
func lastLines(s string, n int) string {
	var errs []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "level=ERROR") || strings.HasPrefix(l, "speakerbox:") || strings.Contains(l, "error") {
			errs = append(errs, strings.TrimSpace(l))
		}
	}
	if len(errs) == 0 {
		errs = strings.Split(strings.TrimSpace(s), "\n")
	}
	if len(errs) > n {
		errs = errs[len(errs)-n:]
	}
	return strings.Join(errs, " | ")
}

// play runs `speakerbox play` into the loopback while recording, with the
// disturbances the step asks for, and compares the capture with the
// reference.
func (a *agent) play(s plan.Step) error {
	card, err := loopbackCard()
	if err != nil {
		return err
	}
	// A missing reference must not hide what the player does: it still
	// runs, and the comparison fails with the reason.
	var ref pcm.Audio
	var refErr error
	if s.Ref != "" {
		ref, refErr = readRef(s.Ref)
	}
	recFormat := pcm.Format{Rate: 44100, Channels: 2, BitsPerSample: 16}
	switch s.Format {
	case "S32_LE":
		recFormat.BitsPerSample = 32
	case "", "S16_LE":
	default:
		return fmt.Errorf("recorder: format %q is not supported by the harness", s.Format)
	}
	if s.LockRate != 0 {
		recFormat.Rate = s.LockRate
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	rec, err := startRecorder(card, recFormat, timeout+s.Linger+2*time.Second)
	if err != nil {
		return err
	}
	// The guest's own wav sink output, written before the recorder opens
	// the loopback so nothing of it can disturb the capture.
	var guestRef pcm.Audio
	var guestRefErr error
	if s.RefArgs != nil {
		guestRef, guestRefErr = a.writeGuestRef(s)
	}
	// With a relay line, watch it in debugfs too: the trace cannot tell a
	// line driven low from one left low, debugfs names who holds it.
	var watch *lineWatch
	if s.ChipLabel != "" {
		watch = watchLine(func(d debugLine) bool { return d.Chip == s.ChipLabel && d.Number-d.Base == s.Line }, 5*time.Millisecond)
	}
	// Options first: Go's flag package stops at the first operand.
	args := append(append([]string{"play"}, s.Args...), s.File)
	started := time.Now()
	c, err := a.start(s.ID, s.Bin, args)
	if err != nil {
		rec.Stop()
		return err
	}
	a.mark(s.ID, "player-start", started)

	stalls := watchStalls()
	// Disturbances are timed from the first sound, not from the start,
	// because the player's start-up time under TCG varies.
	var wg sync.WaitGroup
	var signalled bool
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-rec.soundCh:
		case <-c.done:
			return
		}
		rec.mu.Lock()
		fs := rec.firstSound
		rec.mu.Unlock()
		a.mark(s.ID, "audio-start", fs)
		if s.StopFor > 0 {
			sleepUntil(fs.Add(s.StopAfter), c.done)
			if err := c.cmd.Process.Signal(syscall.SIGSTOP); err == nil {
				a.mark(s.ID, "sigstop", time.Now())
				time.Sleep(s.StopFor)
				_ = c.cmd.Process.Signal(syscall.SIGCONT)
				a.mark(s.ID, "sigcont", time.Now())
			}
		}
		if s.Signal != "" {
			sleepUntil(fs.Add(s.SignalAfter), c.done)
			sig := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL, "INT": syscall.SIGINT}[s.Signal]
			if err := c.cmd.Process.Signal(sig); err == nil {
				a.mark(s.ID, "sig"+strings.ToLower(s.Signal), time.Now())
				signalled = true
			}
		}
	}()
	code, timedOut := c.wait(timeout)
	exited := time.Now()
	wg.Wait()
	a.mark(s.ID, "player-exit", exited)
	time.Sleep(s.Linger)
	if s.AfterArgs != nil {
		ac, err := a.start(s.ID+"-after", s.Bin, s.AfterArgs)
		if err == nil {
			code, _ := ac.wait(20 * time.Second)
			a.mark(s.ID, "after-done", time.Now())
			if code != 0 {
				a.println(fmt.Sprintf("hil: %s %s: %s", s.Bin, strings.Join(s.AfterArgs, " "), exitText(ac)))
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	capture, first, xruns, rerr := rec.Stop()
	stalled := stalls.Stop()
	out := c.output()
	relay := ""
	if watch != nil {
		states := watch.Stop()
		relay = "; relay line (debugfs): " + describe(states)
		// The first state with a holder says whether the player drove the
		// line low before anything else.
		for i, d := range states {
			if d.Consumer != "" {
				// periph.io requests the line as an input and then
				// makes it an output; the first output level counts.
				if !strings.HasPrefix(d.State, "out") {
					continue
				}
				if d.State == "out lo" {
					a.mark(s.ID, "relay-claimed-low", watch.times[i])
				}
				break
			}
		}
	}

	fail := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		if stalled > stallLimit {
			msg += fmt.Sprintf(" (the guest did not run for %s at one point: %s)", stalled.Round(time.Millisecond), starvedMark)
		}
		a.check(s.ID, false, "%s", msg)
		return nil
	}
	if timedOut {
		return fail("speakerbox %s did not finish within %v; last output: %s", strings.Join(args[:1], " "), timeout, lastLines(out, 3))
	}
	if len(s.ExpectFail) > 0 {
		if code == 0 {
			return fail("speakerbox play succeeded although the capture side holds the loopback at %d Hz", s.LockRate)
		}
		for _, w := range s.ExpectFail {
			if !strings.Contains(out, w) {
				return fail("speakerbox play failed (%s) but its message lacks %q: %s", exitText(c), w, lastLines(out, 3))
			}
		}
		a.check(s.ID, true, "refused with %s: %s", exitText(c), lastLines(out, 2))
		return nil
	}
	if s.Signal == "" && code != 0 {
		return fail("speakerbox play: %s: %s", exitText(c), lastLines(out, 3))
	}
	if s.Signal != "" && !signalled {
		return fail("speakerbox play ended (%s) before its audio reached the capture, so SIG%s was never sent: %s", exitText(c), s.Signal, lastLines(out, 3))
	}
	if rerr != nil {
		return fail("recorder: %v", rerr)
	}
	if xruns != 0 {
		return fail("the recorder itself overran %d times (%s?); the capture is not trustworthy", xruns, starvedMark)
	}
	if s.StopFor == 0 && strings.Contains(out, "under-run") {
		return fail("speakerbox play under-ran although nothing stopped it (%s, or a real bug): %s", starvedMark, lastLines(out, 2))
	}
	for _, w := range s.RejectLog {
		if strings.Contains(strings.ToLower(out), strings.ToLower(w)) {
			return fail("speakerbox play logged %q (%s, or a real bug): %s", w, starvedMark, lastLines(out, 3))
		}
	}
	for _, w := range s.WantLog {
		if !strings.Contains(strings.ToLower(out), strings.ToLower(w)) {
			return fail("speakerbox play did not log %q; output: %s", w, lastLines(out, 3))
		}
	}
	fb := recFormat.FrameBytes()
	if !first.IsZero() {
		if last := pcm.LastSound(capture, fb); last >= 0 {
			firstIdx := pcm.FirstSound(capture, fb)
			end := first.Add(time.Duration(last-firstIdx+1) * time.Second / time.Duration(recFormat.Rate))
			a.mark(s.ID, "audio-end", end)
		}
	}
	// Prefer the guest's own wav output as the reference (same binary,
	// same arithmetic), and say how the host's differs from it.
	hostNote := ""
	if s.RefArgs != nil {
		if guestRefErr != nil {
			return fail("speakerbox play --output wav in the guest: %v", guestRefErr)
		}
		switch {
		case refErr != nil:
			hostNote = fmt.Sprintf("; no host reference (%v)", refErr)
		case ref.Format != guestRef.Format:
			hostNote = fmt.Sprintf("; host wav is %v, guest wav %v", ref.Format, guestRef.Format)
		default:
			if n, d := pcm.Diff(ref.Data, guestRef.Data, ref.Format); n == 0 {
				hostNote = "; the host's wav output is identical"
			} else {
				hostNote = fmt.Sprintf("; the host's (amd64) wav output differs from this binary's in %d frames by at most %d LSB (decoder arithmetic, not the ALSA path)", n, d)
			}
		}
		ref, refErr = guestRef, nil
	}
	if s.Compare != "" && refErr != nil {
		return fail("speakerbox play exited 0 but there is no reference to compare with: %v", refErr)
	}
	if s.Compare != "" && ref.Format != recFormat {
		return fail("the reference is %v but the capture ran at %v", ref.Format, recFormat)
	}
	var m pcm.Match
	switch s.Compare {
	case "":
		a.check(s.ID, true, "speakerbox play: %s%s", exitText(c), relay)
		return nil
	case "exact":
		m, err = pcm.Compare(ref.Data, capture, fb)
	case "gap":
		m, err = pcm.CompareWithGap(ref.Data, capture, fb, 10*recFormat.Rate)
	}
	if err != nil {
		return fail("%v", err)
	}
	pass := m.Exact()
	hint := ""
	if s.Compare == "gap" && m.GapAt < 0 {
		pass = false
	}
	if s.Compare == "gap" && !pass && m.GapAt >= 0 && m.Silence == 0 {
		// The agent's own player shows this without silence fill
		// (0-self-xrun-nofill) and a clean gap with it.
		hint = "; at the under-run the capture goes on with sound that is not the next audio: the device replayed stale buffer contents instead of silence (the sink sets no silence fill: sw_params silence_threshold/silence_size)"
	}
	a.check(s.ID, pass, "%v through hw:Loopback,0 vs the wav sink: %v%s%s%s", ref.Format, m, hint, relay, hostNote)
	return nil
}

func sleepUntil(t time.Time, abort <-chan struct{}) {
	select {
	case <-time.After(time.Until(t)):
	case <-abort:
	}
}

// writeGuestRef runs the player with the wav sink in the guest.
func (a *agent) writeGuestRef(s plan.Step) (pcm.Audio, error) {
	path := "/tmp/" + s.ID + "-ref.wav"
	args := append(append([]string{"play"}, s.RefArgs...), "--output", "wav", "--audio.path", path, s.File)
	c, err := a.start(s.ID+"-ref", s.Bin, args)
	if err != nil {
		return pcm.Audio{}, err
	}
	if code, timedOut := c.wait(60 * time.Second); timedOut || code != 0 {
		return pcm.Audio{}, fmt.Errorf("%s: %s", exitText(c), lastLines(c.output(), 2))
	}
	b, err := os.ReadFile(path)
	_ = os.Remove(path)
	if err != nil {
		return pcm.Audio{}, err
	}
	return pcm.ParseWAV(b)
}

// stallWatch measures the longest time the guest did not get to run a
// 10 ms ticker. Under TCG the guest's clock is the host's, so when the
// host deschedules QEMU (a loaded CI machine) the guest sees the jump;
// snd-aloop then catches up in one go and copies stale buffer contents to
// the capture, which no player can prevent. Such a run proves nothing.
type stallWatch struct {
	stop chan struct{}
	done chan time.Duration
}

func watchStalls() *stallWatch {
	w := &stallWatch{stop: make(chan struct{}), done: make(chan time.Duration, 1)}
	go func() {
		var worst time.Duration
		last := time.Now()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				w.done <- worst
				return
			case now := <-t.C:
				worst = max(worst, now.Sub(last))
				last = now
			}
		}
	}()
	return w
}

func (w *stallWatch) Stop() time.Duration {
	close(w.stop)
	return <-w.done
}

// stallLimit: longer than this without running and the capture of a
// loopback cannot be trusted (a period is 20 ms; the recorder's buffer
// holds 740 ms, the player's at least 200 ms).
const stallLimit = 150 * time.Millisecond

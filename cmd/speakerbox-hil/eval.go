package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/pl061"
	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/report"
	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/vm"
)

// stepSlack is how long after a player's exit its relay events still
// belong to it; the next step starts later than that (its guest first
// writes a reference or lingers).
const stepSlack = 300 * time.Millisecond

// markSkew bounds how much later a mark's host time can be than the event
// it marks, as the trace sees it (0-self-gpio-trace measures 0-10 ms).
const markSkew = 50 * time.Millisecond

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

func (r *vmRun) mark(id, ev string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.marks[id+"/"+ev]
	return t, ok
}

// firstAfter is the first event at or after t with the given level.
func firstAfter(evs []pl061.Event, t time.Time, level int) (pl061.Event, bool) {
	for _, e := range evs {
		if !e.T.Before(t) && e.Level == level {
			return e, true
		}
	}
	return pl061.Event{}, false
}

func describeEvents(evs []pl061.Event, t0 time.Time) string {
	var parts []string
	for _, e := range evs {
		parts = append(parts, fmt.Sprintf("%d@%+dms", e.Level, e.T.Sub(t0).Milliseconds()))
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, " ")
}

// evalSelfTrace checks that a line the agent drove to known levels shows
// up in QEMU's trace at the console's times: the trace parser works and
// the two host clocks (trace stamps, console arrival) agree.
func evalSelfTrace(r *vmRun) (bool, string) {
	const id = "0-self-gpio"
	hi, ok1 := r.mark(id, "set-hi")
	lo, ok2 := r.mark(id, "set-lo-2")
	lo1, _ := r.mark(id, "set-lo-1")
	if !ok1 || !ok2 {
		return false, "the guest did not mark its GPIO changes"
	}
	evs := pl061.Line(r.trace, selfLine)
	eh, okh := firstAfter(evs, lo1, 1)
	el, okl := firstAfter(evs, hi, 0)
	if !okh || !okl {
		return false, fmt.Sprintf("trace of line %d does not show hi then lo: %s", selfLine, describeEvents(evs, lo1))
	}
	dh, dl := eh.T.Sub(hi), el.T.Sub(lo)
	okT := dh.Abs() < 100*time.Millisecond && dl.Abs() < 100*time.Millisecond
	return okT, fmt.Sprintf("trace of line %d: %s (relative to the first set-lo); trace-console skew hi %s, lo %s",
		selfLine, describeEvents(evs, lo1), ms(dh), ms(dl))
}

// evalReleaseLevel reads from the trace what level the self-test's line
// kept after the agent released it while high: the same thing the kernel
// does when a process holding the relay is killed.
func evalReleaseLevel(r *vmRun) (bool, string) {
	const id = "0-self-gpio"
	hi, ok1 := r.mark(id, "release-high")
	rel, ok2 := r.mark(id, "released")
	if !ok1 || !ok2 {
		return false, "the guest did not release its line"
	}
	evs := pl061.Line(r.trace, selfLine)
	if pl061.LevelAt(evs, hi.Add(50*time.Millisecond), 0) != 1 {
		return false, "the line was not high before the release: " + describeEvents(evs, hi)
	}
	final := pl061.LevelAt(evs, time.Now(), 0)
	return true, fmt.Sprintf("measured: a PL061 line released while high stays %s (trace after release: %s)",
		levelName(final), describeEvents(func() (o []pl061.Event) {
			for _, e := range evs {
				if e.T.After(rel.Add(-150 * time.Millisecond)) {
					o = append(o, e)
				}
			}
			return
		}(), rel))
}

// evalRelayTiming checks the relay around one played file: low at start,
// high at least the warm-up before the first sound reached the capture,
// low again the idle timeout after the last sound.
func evalRelayTiming(r *vmRun) (bool, string) {
	const id = "4-relay-play"
	start, ok1 := r.mark(id, "player-start")
	audio, ok2 := r.mark(id, "audio-start")
	end, ok3 := r.mark(id, "audio-end")
	exit, ok4 := r.mark(id, "player-exit")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return false, "no audio reached the capture, so there is nothing to time the relay against"
	}
	evs := pl061.Line(r.trace, relayLine)
	// This step's events only: the next steps use the same line.
	stepEnd := exit.Add(stepSlack)
	var mine []pl061.Event
	for _, e := range evs {
		if !e.T.Before(start.Add(-50*time.Millisecond)) && e.T.Before(stepEnd) {
			mine = append(mine, e)
		}
	}
	seq := describeEvents(mine, start)
	hi, okHi := firstAfter(mine, start, 1)
	if !okHi {
		return false, "the relay line never went high: " + seq
	}
	// Low at start: the PL061 resets its lines low, so the trace shows no
	// change when the player drives the line low; the guest's debugfs
	// watch saw who held the line and at what level first.
	lowAtStart := pl061.LevelAt(evs, start.Add(-time.Millisecond), 0) == 0
	claimed, explicit := r.mark(id, "relay-claimed-low")
	explicit = explicit && claimed.Before(hi.T)
	lo, okLo := firstAfter(mine, hi.T, 0)
	lead := audio.Sub(hi.T)
	var idle time.Duration
	if okLo {
		idle = lo.T.Sub(end)
	}
	var fails []string
	if !lowAtStart {
		fails = append(fails, "line was high when the player started")
	}
	if !explicit {
		fails = append(fails, "the player did not drive the line low before switching it on (debugfs)")
	}
	if lead < warmup {
		fails = append(fails, fmt.Sprintf("first sound only %s after the relay (warm-up %s)", ms(lead), ms(warmup)))
	}
	if !okLo {
		fails = append(fails, "the relay never dropped")
	} else if idle < idleTimeout-100*time.Millisecond || idle > idleTimeout+1500*time.Millisecond {
		fails = append(fails, fmt.Sprintf("dropped %s after the last sound (idle timeout %s)", ms(idle), ms(idleTimeout)))
	}
	if okLo {
		if again, ok := firstAfter(mine, lo.T, 1); ok {
			fails = append(fails, fmt.Sprintf("went high again %s after dropping", ms(again.T.Sub(lo.T))))
		}
	}
	how := "low at start, not driven by the player"
	if explicit {
		how = fmt.Sprintf("driven low at start (%s after launch)", ms(claimed.Sub(start)))
	}
	detail := fmt.Sprintf("%s; high %s before the first sound (warm-up %s); low %s after the last sound (idle %s); player exited %s after start; trace %s",
		how, ms(lead), ms(warmup), ms(idle), ms(idleTimeout), ms(exit.Sub(start)), seq)
	if len(fails) > 0 {
		return false, strings.Join(fails, "; ") + " — " + detail
	}
	return true, detail
}

// evalSignalLevel reads the relay line's level after the player got a
// signal while the relay was on. For SIGTERM the line must be low; for
// SIGKILL, where no cleanup can run, the level is a measurement.
func evalSignalLevel(id, sig string, mustBeLow bool) hostEval {
	return func(r *vmRun) (bool, string) {
		t, ok := r.mark(id, sig)
		if !ok {
			return false, fmt.Sprintf("the player was not sent %s (did audio start?)", strings.ToUpper(sig))
		}
		exit, ok := r.mark(id, "player-exit")
		if !ok {
			return false, "the player's exit was not marked"
		}
		evs := pl061.Line(r.trace, relayLine)
		// The mark reaches the host over the serial console a few ms
		// after the signal; a process that reacts fast has switched off
		// by then. Look just before it (the self-test bounds the skew).
		if pl061.LevelAt(evs, t.Add(-markSkew), 0) != 1 {
			return false, fmt.Sprintf("the relay was not on when %s was sent, so this measures nothing: %s", strings.ToUpper(sig), describeEvents(evs, t))
		}
		// The level once the process is gone, before the next step
		// touches the line.
		stepEnd := exit.Add(stepSlack)
		final := pl061.LevelAt(evs, stepEnd, 0)
		after := describeEvents(func() (o []pl061.Event) {
			for _, e := range evs {
				if e.T.After(t) && e.T.Before(stepEnd) {
					o = append(o, e)
				}
			}
			return
		}(), t)
		if mustBeLow {
			return final == 0, fmt.Sprintf("relay line after %s: %s (changes after the signal: %s)", strings.ToUpper(sig), levelName(final), after)
		}
		return true, fmt.Sprintf("measured: after %s in mid-play the PL061 line stays %s once the kernel releases it (changes after the signal: %s)",
			strings.ToUpper(sig), levelName(final), after)
	}
}

// evalExecStopPost checks the remedy for a killed process: the unit's
// ExecStopPost= command (`speakerbox doctor gpio --off`) switches a line
// the dead process left high back off.
func evalExecStopPost(r *vmRun) (bool, string) {
	const id = "4-relay-sigkill"
	exit, ok1 := r.mark(id, "player-exit")
	done, ok2 := r.mark(id, "after-done")
	if !ok1 || !ok2 {
		return false, "`speakerbox doctor gpio --off` did not run after the SIGKILL"
	}
	evs := pl061.Line(r.trace, relayLine)
	before, after := pl061.LevelAt(evs, exit.Add(stepSlack/2), 0), pl061.LevelAt(evs, done, 0)
	return before == 1 && after == 0, fmt.Sprintf("line %s after the kill, %s after `speakerbox doctor gpio --off` (the unit's ExecStopPost=)",
		levelName(before), levelName(after))
}

func levelName(l int) string {
	if l == 1 {
		return "HIGH"
	}
	return "LOW"
}

// applianceResult is what the host learned over the forwarded port.
type applianceResult struct {
	info    map[string]any
	err     error
	tries   int
	elapsed time.Duration // from the guest's start mark to the first answer
}

// applianceDuring starts the host's half of the appliance boot when the
// guest says speakerbox run has started: ask getInfo through the forwarded
// loopback port until it answers, watch for a second that nothing switches
// the relay, then end the VM.
func applianceDuring(r *vmRun, l vm.Line) {
	p, ok, _ := report.Parse(l.Text)
	if !ok || p.Kind != report.Mark || p.Event != "started" {
		return
	}
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		defer r.stopVM()
		url := fmt.Sprintf("http://127.0.0.1:%d/?action=getInfo", r.hostPort)
		client := &http.Client{Timeout: 3 * time.Second}
		t0 := time.Now()
		var res applianceResult
		for time.Since(t0) < 25*time.Second {
			res.tries++
			info, err := getInfo(client, url)
			if err == nil {
				res.info, res.err, res.elapsed = info, nil, time.Since(t0)
				break
			}
			res.err, res.elapsed = err, time.Since(t0)
			time.Sleep(300 * time.Millisecond)
		}
		r.mu.Lock()
		r.app = res
		r.mu.Unlock()
		if res.err == nil {
			time.Sleep(1500 * time.Millisecond) // nothing plays: the relay must stay off
		}
	}()
}

func getInfo(c *http.Client, url string) (map[string]any, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
	}
	var info map[string]any
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("getInfo is not JSON: %v: %.200s", err, b)
	}
	return info, nil
}

func evalAppliance(r *vmRun) (bool, string) {
	start, ok := r.mark("6-appliance", "started")
	if !ok {
		return false, "the guest never started speakerbox run"
	}
	r.mu.Lock()
	res := r.app
	r.mu.Unlock()
	if res.err != nil || res.info == nil {
		why := ""
		if e := res.err.Error(); strings.Contains(e, "connection reset") || strings.Contains(e, "EOF") {
			why = fmt.Sprintf(" — QEMU accepted the connection but nothing listens on the guest's port %d (does `speakerbox run` serve ZeroConf yet?)", zeroconfPort)
		}
		return false, fmt.Sprintf("GET /?action=getInfo through 127.0.0.1:%d never answered (%d tries in %s): %v%s", r.hostPort, res.tries, ms(res.elapsed), res.err, why)
	}
	var fails []string
	if st, _ := res.info["status"].(float64); st != 101 {
		fails = append(fails, fmt.Sprintf("status %v, want 101", res.info["status"]))
	}
	if name, _ := res.info["remoteName"].(string); name != "hil-speaker" {
		fails = append(fails, fmt.Sprintf("remoteName %q, want hil-speaker", name))
	}
	evs := pl061.Line(r.trace, relayLine)
	var after []pl061.Event
	for _, e := range evs {
		if e.T.After(start) {
			after = append(after, e)
		}
	}
	if _, on := firstAfter(after, start, 1); on || pl061.LevelAt(evs, time.Now(), 0) != 0 {
		fails = append(fails, "the relay switched on with nothing playing: "+describeEvents(after, start))
	}
	claim := "speakerbox never claimed the relay line (debugfs)"
	if t, ok := r.mark("6-appliance", "relay-claimed-lo"); ok {
		claim = fmt.Sprintf("speakerbox drove it low %s after start", ms(t.Sub(start)))
	} else if _, ok := r.mark("6-appliance", "relay-claimed-hi"); ok {
		claim = "speakerbox drove it HIGH at start"
		fails = append(fails, claim)
	} else {
		fails = append(fails, claim)
	}
	detail := fmt.Sprintf("getInfo answered through 127.0.0.1:%d after %s (status %v, remoteName %v, deviceID %v); relay line %d: %s, trace %s",
		r.hostPort, ms(res.elapsed), res.info["status"], res.info["remoteName"], res.info["deviceID"], relayLine, claim, describeEvents(after, start))
	if len(fails) > 0 {
		return false, strings.Join(fails, "; ") + " — " + detail
	}
	return true, detail
}

// freePort picks a free TCP port on the host's loopback for QEMU's
// forward; only 127.0.0.1 is ever bound.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

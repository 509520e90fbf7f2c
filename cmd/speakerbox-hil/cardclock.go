package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Check 6's TLS half: with the clock put back to 1970 while the speaker
// runs, a restarted speaker says why it will not contact Spotify, makes no
// login attempt (no TLS) while the clock stays wrong, and goes on once the
// clock is set again. The card has no network, so an attempt shows as a
// failed login ("login failed" or "could not reach"), which is what the log
// must not hold while the clock is wrong.

// The speaker's own messages (receiver.ClockWrongMsg, receiver.ClockSetMsg).
const (
	clockWrongText = "system clock is wrong; waiting for the time to be set before contacting Spotify"
	clockSetText   = "system clock set; contacting Spotify"
)

// clockTLSCmd marks the log, sets the clock to 1970-01-02 (Linux refuses a wall clock before the boot: 1970-01-01 00:00:05 is EINVAL), restarts the speaker,
// waits for its wrong-clock line, keeps the clock wrong for a few of the
// speaker's one-second looks at it (an observation window for an attempt
// that must not come, not a synchronisation), sets the clock back, waits
// for the speaker to go on (and, with a login, for the attempt that then
// fails for want of a network), and prints the log from the mark.
func clockTLSCmd(withLogin bool) string {
	after := `i=0; until logread | sed -n '/HIL-CLOCK-MARK/,$p' | grep -q 'system clock set'; do i=$((i+1)); [ $i -gt 60 ] && break; usleep 500000; done; `
	if withLogin {
		after += `i=0; until logread | sed -n '/system clock set/,$p' | grep -qE 'login failed|could not reach'; do i=$((i+1)); [ $i -gt 120 ] && break; usleep 500000; done; `
	}
	return `logger -t hil HIL-CLOCK-MARK; now=$(date +%s); date -s @86400 >/dev/null; ` + restartOnLo + ` >/dev/null 2>&1; ` +
		`i=0; until logread | sed -n '/HIL-CLOCK-MARK/,$p' | grep -q 'system clock is wrong'; do i=$((i+1)); [ $i -gt 120 ] && break; usleep 500000; done; ` +
		`usleep 4000000; date -s @$now >/dev/null; ` + after +
		`logread | sed -n '/HIL-CLOCK-MARK/,$p' | grep -E 'HIL-CLOCK-MARK|system clock|login failed|could not reach|trying Spotify anyway'`
}

// evalClockTLS reads clockTLSCmd's output. Without a login the speaker has
// nothing to attempt, so only the start's line is required.
func evalClockTLS(out []string, withLogin bool) (string, bool, string, []string) {
	const id = "6-clock-tls"
	wrong, set, attempt := -1, -1, -1
	early := ""
	for i, l := range out {
		switch {
		case strings.Contains(l, clockWrongText) && wrong < 0:
			wrong = i
		case strings.Contains(l, clockSetText) && set < 0:
			set = i
		case strings.Contains(l, "login failed") || strings.Contains(l, "could not reach") || strings.Contains(l, "trying Spotify anyway"):
			if wrong >= 0 && set < 0 && early == "" {
				early = l
			}
			if set >= 0 && attempt < 0 {
				attempt = i
			}
		}
	}
	if wrong < 0 {
		return id, false, "the speaker restarted with the clock in 1970 did not log why it waits (" + clockWrongText + ")", out
	}
	if !strings.Contains(out[wrong], "last_known_time") {
		return id, false, "the wrong-clock line does not name the last known time", out
	}
	if early != "" {
		return id, false, fmt.Sprintf("a login was attempted while the clock was wrong: %q", early), out
	}
	if !withLogin {
		return id, true, "with the clock in 1970 the restarted speaker logged why it will not contact Spotify (no login stored: nothing to attempt)", nil
	}
	if set < 0 {
		return id, false, "the clock was set back but the speaker did not log " + fmt.Sprintf("%q", clockSetText), out
	}
	if attempt < 0 {
		return id, false, "after the clock was set the speaker made no login attempt", out
	}
	return id, true, "with a stored login and the clock in 1970 the speaker logged why, attempted nothing for 4 s, and logged in (failing: no network) once the clock was set", nil
}

// runClockTLS runs the check on a booted card's shell.
func (c *cardRun) runClockTLS(ctx context.Context, sh *shell, withLogin bool) error {
	out, _, err := sh.run(ctx, clockTLSCmd(withLogin), 240*time.Second)
	if err != nil {
		return err
	}
	id, pass, detail, tail := evalClockTLS(out, withLogin)
	c.check(id, pass, detail, tail)
	return nil
}

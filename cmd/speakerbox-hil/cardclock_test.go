package main

import (
	"strings"
	"testing"
)

func TestEvalClockTLS(t *testing.T) {
	const (
		mark   = "Jan  1 00:00:05 hil: HIL-CLOCK-MARK"
		wrong  = `level=WARN msg="` + clockWrongText + `" component=connect now=1970-01-01T00:00:06Z reason="before the last known time" last_known_time=2026-12-04T02:00:00Z`
		set    = `level=INFO msg="` + clockSetText + `" now=2026-12-04T03:00:00Z`
		failed = `level=WARN msg="login failed; will retry" err="apresolve: no network"`
	)
	for _, c := range []struct {
		name      string
		out       []string
		withLogin bool
		pass      bool
		why       string
	}{
		{"login: waits, then tries", []string{mark, wrong, set, failed}, true, true, ""},
		{"no login: the start line is enough", []string{mark, wrong}, false, true, ""},
		{"no line", []string{mark}, false, false, "did not log why"},
		{"tried with the wrong clock", []string{mark, wrong, failed, set, failed}, true, false, "attempted while the clock was wrong"},
		{"tried anyway before the clock was set", []string{mark, wrong, `msg="the system clock has not changed; trying Spotify anyway"`, set, failed}, true, false, "attempted while the clock was wrong"},
		{"never went on", []string{mark, wrong}, true, false, "did not log"},
		{"went on but no attempt", []string{mark, wrong, set}, true, false, "no login attempt"},
		{"no floor named", []string{mark, `msg="` + clockWrongText + `"`}, false, false, "last known time"},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, pass, detail, _ := evalClockTLS(c.out, c.withLogin)
			if id != "6-clock-tls" || pass != c.pass || !strings.Contains(detail, c.why) {
				t.Fatalf("got %s %v %q", id, pass, detail)
			}
		})
	}
}

func TestClockTLSCmdWaitsForTheAttemptOnlyWithALogin(t *testing.T) {
	with, without := clockTLSCmd(true), clockTLSCmd(false)
	for _, cmd := range []string{with, without} {
		for _, want := range []string{"date -s @86400", "date -s @$now", restartOnLo, "HIL-CLOCK-MARK"} {
			if !strings.Contains(cmd, want) {
				t.Errorf("command lacks %q", want)
			}
		}
	}
	if !strings.Contains(with, "login failed|could not reach") || strings.Contains(without, "/system clock set/,$p") {
		t.Error("only the login variant waits for the attempt after the clock is set")
	}
}

package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// Plain `speakerbox doctor` reports every topic as ok, problem or not
// applicable, and fails only on a problem of the configured setup.
func TestDoctorReportsEachTopic(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want []string
		not  []string
	}{
		{
			name: "nothing to check but the configured output",
			args: []string{"--audio.output", "null"},
			code: exitOK,
			want: []string{"== summary", "config  ok", "state   ok", "audio   ok", "gpio    not applicable: no relay line configured"},
			not:  []string{"PROBLEM", "what to do"},
		},
		{
			name: "no sound card where the configuration wants one",
			args: []string{"--audio.output", "alsa", "--audio.device", "hw:31,0"},
			code: exitFailure,
			want: []string{"audio   PROBLEM", `PROBLEM: open ALSA device "hw:31,0"`, "what to do (audio):", "audio.output to pipe, wav or null", "config  ok", "gpio    not applicable"},
		},
		{
			name: "relay line found",
			env:  []string{"SPEAKERBOX_GPIO_RELAY_LINE=SBTEST_RELAY"},
			args: []string{"--audio.output", "wav", "--audio.path", filepath.Join(dir, "out.wav")},
			code: exitOK,
			want: []string{"gpio    ok", "audio   ok", "line SBTEST_RELAY found"},
		},
		{
			name: "relay line missing",
			env:  []string{"SPEAKERBOX_GPIO_RELAY_LINE=NOPE"},
			args: []string{"--audio.output", "null"},
			code: exitFailure,
			want: []string{"gpio    PROBLEM", "what to do (gpio):", "audio   ok"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := runCmd(t, speakerbox(t, gpioEnv(dir, c.env...), append([]string{"doctor"}, c.args...)...))
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s%s", code, c.code, stdout, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range c.not {
				if strings.Contains(stdout, w) {
					t.Errorf("stdout has %q:\n%s", w, stdout)
				}
			}
		})
	}
	if got := lineLog(t, dir, "SBTEST_RELAY"); got != "" {
		t.Errorf("doctor drove the relay line: %q", got)
	}
}

// A single topic that does not apply says so and succeeds; one with a
// problem says what to do.
func TestDoctorTopicNotApplicableAndAdvice(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := runCmd(t, speakerbox(t, gpioEnv(dir), "doctor", "gpio"))
	if code != exitOK || !strings.Contains(stdout, "not applicable: no relay line configured") {
		t.Errorf("doctor gpio without a line: exit %d\n%s%s", code, stdout, stderr)
	}
	_, stderr, code = runCmd(t, speakerbox(t, gpioEnv(dir), "doctor", "--audio.device", "hw:31,0", "audio"))
	if code != exitFailure || !strings.Contains(stderr, "what to do: set audio.device") {
		t.Errorf("doctor audio without the device: exit %d\n%s", code, stderr)
	}
}

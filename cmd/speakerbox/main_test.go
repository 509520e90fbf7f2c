package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests run the real command line in a child process (this test binary,
// re-executed), so exit codes, signals and files are the real ones.
func TestMain(m *testing.M) {
	if os.Getenv("SBTEST_MAIN") == "1" {
		os.Exit(realMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	if os.Getenv("SBTEST_LATESIGNAL") == "1" {
		os.Exit(lateSignalChild())
	}
	os.Exit(m.Run())
}

func speakerbox(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	// Any free port for the local API: 4080 may be taken by another test.
	cmd.Env = append(cleanEnv(), "SBTEST_MAIN=1", "HOME="+t.TempDir(), "SPEAKERBOX_API_ADDRESS=127.0.0.1:0")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// speakerProcess is `speakerbox run` started by childSpeaker.
type speakerProcess struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan error // the exit status; whoever takes it puts it back for the cleanup
}

// childSpeaker starts `speakerbox run ARGS` in a child process, with the
// proxies pointed at a closed port (nothing leaves the machine) and its log
// captured. It is killed when the test ends, if still running.
func childSpeaker(t *testing.T, env []string, args ...string) *speakerProcess {
	t.Helper()
	env = append([]string{"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY="}, env...)
	p := &speakerProcess{cmd: speakerbox(t, env, append([]string{"run"}, args...)...), stderr: new(syncBuffer), exited: make(chan error, 1)}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// stillRunning fails the test if the process has exited; what says what it
// should have done instead.
func (p *speakerProcess) stillRunning(t *testing.T, what string) {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err
		t.Fatalf("the speaker exited (%v) %s\nlog:\n%s", err, what, p.stderr.String())
	default:
	}
}

// terminate sends SIGTERM and fails the test unless the process then exits
// cleanly; during (if set) runs in between, to read what it says as it stops.
func (p *speakerProcess) terminate(t *testing.T, during func()) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if during != nil {
		during()
	}
	err := <-p.exited
	p.exited <- err
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr.String())
	}
}

// cleanEnv drops SPEAKERBOX_* variables of the developer's shell.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SPEAKERBOX_") {
			out = append(out, kv)
		}
	}
	return out
}

func runCmd(t *testing.T, cmd *exec.Cmd) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "speakerbox.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrintConfigDefaults(t *testing.T) {
	out, errOut, code := runCmd(t, speakerbox(t, nil, "run", "--print-config"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	host, _ := os.Hostname()
	for _, want := range []string{`name: "` + host + `"  # default`, `audio.output: "alsa"`, `gpio.idle_timeout: 5m0s`, "no configuration file"} {
		if !strings.Contains(out, want) {
			t.Errorf("--print-config lacks %q:\n%s", want, out)
		}
	}
}

func TestBadConfigExits2(t *testing.T) {
	cases := []struct {
		name, file string
		want       []string
	}{
		{"unknown key", "audio:\n  devise: hw:0\n", []string{"audio.devise", "unknown key", ":2", "device"}},
		{"wrong type", "gpio:\n  warmup: [1]\n", []string{"gpio.warmup", "not a duration", ":2"}},
		{"volume out of range", "audio:\n  initial_volume: 101\n", []string{"audio.initial_volume", "101", "out of range", "0 to 100", ":2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := writeConfig(t, c.file)
			_, errOut, code := runCmd(t, speakerbox(t, nil, "run", "--config", cfg, "--print-config"))
			if code != exitUsage {
				t.Fatalf("exit %d, want 2; stderr %q", code, errOut)
			}
			if n := strings.Count(strings.TrimSpace(errOut), "\n"); n != 0 {
				t.Errorf("want one message line, got %d lines: %q", n+1, errOut)
			}
			for _, w := range append(c.want, cfg) {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
		})
	}
}

func TestUnknownCommandAndHelp(t *testing.T) {
	if _, _, code := runCmd(t, speakerbox(t, nil, "frobnicate")); code != exitUsage {
		t.Errorf("unknown command exit %d", code)
	}
	out, _, code := runCmd(t, speakerbox(t, nil, "--help"))
	if code != 0 || !strings.Contains(out, "doctor") || !strings.Contains(out, "version") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
	out, _, code = runCmd(t, speakerbox(t, nil, "run", "--help"))
	if code != 0 || !strings.Contains(out, "--print-config") || !strings.Contains(out, "--audio.buffer") || !strings.Contains(out, "an integer from 0 to 100") {
		t.Errorf("run --help: exit %d, %q", code, out)
	}
}

// TestRunShutdownAndDeviceID starts the speaker, stops it with SIGTERM and
// checks the orderly exit, then checks the device id survives a restart and a
// deleted state directory yields a new one.
func TestRunShutdownAndDeviceID(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	start := func() string {
		cmd := speakerbox(t, nil, "run", "--state_dir", state, "--audio.output", "null", "--zeroconf.interfaces", "lo")
		e := &syncBuffer{}
		cmd.Stderr = e
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(e.String(), "speaker starting") {
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				t.Fatalf("speaker did not start: %s", e.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		// Exit status 0 is the proof of an orderly shutdown within the
		// grace: past it the process exits 1 (exitFailure), so no clock is
		// read here.
		if err := cmd.Wait(); err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, e.String())
		}
		b, err := os.ReadFile(filepath.Join(state, "device_id"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	id1 := start()
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir: %v %v", fi.Mode(), err)
	}
	if id2 := start(); id2 != id1 {
		t.Fatalf("device id changed across restart: %s -> %s", id1, id2)
	}
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	if id3 := start(); id3 == id1 || len(id3) != 40 {
		t.Fatalf("after deleting the state dir: %q (old %q)", id3, id1)
	}
}

func TestExitGuardRunsOnceLIFO(t *testing.T) {
	var g exitGuard
	var got []int
	g.Add(func() { got = append(got, 1) })
	g.Add(func() { got = append(got, 2) })
	g.Run()
	g.Run()
	g.Add(func() { got = append(got, 3) }) // late: runs at once
	if want := []int{2, 1, 3}; len(got) != 3 || got[0] != 2 || got[1] != 1 || got[2] != 3 {
		t.Fatalf("order %v, want %v", got, want)
	}
}

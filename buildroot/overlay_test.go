// Package buildroot holds the Buildroot external tree and the root
// filesystem overlay every Speakerbox image is made from; its tests check
// the overlay's scripts with shellcheck and run the init script under
// BusyBox in a temporary root against the real binary.
package buildroot

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/internal/testenv"
)

const overlay = "board/speakerbox/rootfs-overlay"

// TestShellcheck runs shellcheck on every shell script in the repository
// (every tracked file whose first line names sh, bash or busybox sh).
func TestShellcheck(t *testing.T) {
	sc := testenv.Tool(t, "shellcheck", "shellcheck")
	git := testenv.Tool(t, "git", "git")
	out, err := exec.Command(git, "-C", "..", "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var scripts []string
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		p := filepath.Join("..", f)
		if isShellScript(p) {
			scripts = append(scripts, p)
		}
	}
	// The overlay's scripts must be among them (a script not yet added
	// to git is checked too: the overlay is walked).
	filepath.WalkDir(overlay, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && isShellScript(p) && !containsPath(scripts, p) {
			scripts = append(scripts, p)
		}
		return nil
	})
	if len(scripts) < 6 {
		t.Fatalf("found only %d shell scripts: %q", len(scripts), scripts)
	}
	cmd := exec.Command(sc, append([]string{"--format=gcc"}, scripts...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck %d scripts: %v\n%s", len(scripts), err, out)
	}
}

func containsPath(list []string, p string) bool {
	for _, q := range list {
		if filepath.Clean(q) == filepath.Clean("../buildroot/"+p) || filepath.Clean(q) == filepath.Clean(p) {
			return true
		}
	}
	return false
}

func isShellScript(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	return regexp.MustCompile(`^#!\s*/(usr/)?bin/(env\s+)?(ba|busybox\s+)?sh\b`).MatchString(line)
}

// buildSpeakerbox builds the real binary, as an image carries it.
func buildSpeakerbox(t *testing.T, dst string) {
	t.Helper()
	goTool := testenv.Tool(t, "go", "golang-go")
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", dst, "./cmd/speakerbox")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}

// TestDefaultConfigAccepted: the configuration file of the image passes the
// binary's own validation.
func TestDefaultConfigAccepted(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "speakerbox")
	buildSpeakerbox(t, bin)
	conf := filepath.Join(overlay, "etc/speakerbox/speakerbox.yaml")
	cmd := exec.Command(bin, "doctor", "config", "--config", conf)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK: configuration valid") {
		t.Fatalf("doctor config --config %s: %v\n%s", conf, err, out)
	}
	// The example settings file of the boot partition, too.
	example := "board/speakerbox/boot/speakerbox.txt"
	cmd = exec.Command(bin, "firstboot", "--check", "--settings", example)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("firstboot --check %s: %v\n%s", example, err, out)
	}
}

// initRoot is a temporary root with the overlay's init script, BusyBox as
// every command, and the real binary; each command runs in a network
// namespace of its own, so the speaker never reaches a real interface.
type initRoot struct {
	t       *testing.T
	dir     string
	busybox string
	nsenter string
	env     []string
}

// scriptRoot is a temporary root whose every command is BusyBox.
type scriptRoot struct {
	t       *testing.T
	dir     string
	busybox string
	env     []string
}

func newScriptRoot(t *testing.T) *scriptRoot {
	bb := testenv.Tool(t, "busybox", "busybox-static")
	r := &scriptRoot{t: t, dir: t.TempDir(), busybox: bb}
	for _, d := range []string{"bin", "usr/bin", "etc/init.d", "etc/speakerbox", "var/lib/speakerbox", "var/log", "run", "boot"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(bb, "--install", "-s", filepath.Join(r.dir, "bin")).CombinedOutput(); err != nil {
		t.Fatalf("busybox --install: %v\n%s", err, out)
	}
	r.env = []string{"PATH=" + filepath.Join(r.dir, "bin"), "INIT_ROOT=" + r.dir}
	return r
}

// run runs a script of the root with BusyBox sh.
func (r *scriptRoot) run(script string, args ...string) (string, int) {
	r.t.Helper()
	cmd := exec.Command(r.busybox, append([]string{"sh", filepath.Join(r.dir, script)}, args...)...)
	cmd.Env = r.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		r.t.Fatalf("%s %q: %v", script, args, err)
	}
	return out.String(), 0
}

func newInitRoot(t *testing.T) *initRoot {
	ns := testenv.Tool(t, "nsenter", "util-linux")
	sr := newScriptRoot(t)
	if os.Geteuid() != 0 {
		testenv.Missing(t, "the init script test needs root for a network namespace of its own")
	}
	r := &initRoot{t: t, dir: sr.dir, busybox: sr.busybox, nsenter: ns}
	buildSpeakerbox(t, filepath.Join(r.dir, "usr/bin/speakerbox"))
	for _, f := range []string{"etc/init.d/S95speakerbox", "etc/speakerbox/speakerbox.yaml"} {
		copyFile(t, filepath.Join(overlay, f), filepath.Join(r.dir, f))
	}
	r.env = []string{
		"PATH=" + filepath.Join(r.dir, "bin"),
		"INIT_ROOT=" + r.dir,
		"RESPAWN_DELAY=0",
		"LOG_CMD=cat",
		"INIT_OUT=" + filepath.Join(r.dir, "var/log/init.log"),
		// No ALSA device on a test machine, and the loopback interface is
		// the only one in the namespace.
		"SPEAKERBOX_AUDIO_OUTPUT=null",
		"SPEAKERBOX_ZEROCONF_INTERFACES=lo",
	}
	t.Cleanup(r.killAll)
	return r
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

// script runs the init script with one action under BusyBox sh, in a new
// network namespace whose loopback is up.
func (r *initRoot) script(action string) (string, int) {
	r.t.Helper()
	cmd := exec.Command(r.busybox, "sh", "-c", `ip link set lo up && exec sh "$INIT_ROOT/etc/init.d/S95speakerbox" "$1"`, "init", action)
	cmd.Env = r.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		r.t.Fatalf("init script %s: %v", action, err)
	}
	return out.String(), 0
}

func (r *initRoot) pid(name string) int {
	b, err := os.ReadFile(filepath.Join(r.dir, "run/speakerbox", name))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func (r *initRoot) log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "var/log/init.log"))
	return string(b)
}

// waitFor polls cond until it holds; a deadline only bounds a failure.
// The last error of cond (if any) is shown.
func (r *initRoot) waitFor(what string, cond func() error) {
	r.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s (%v); init log:\n%s", what, err, r.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// getInfo asks the speaker in its namespace for getInfo, with BusyBox wget.
func (r *initRoot) getInfo(pid int) (map[string]any, error) {
	// Bounded here: BusyBox 1.35's wget -T crashes (SIGSEGV).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.nsenter, "--net=/proc/"+strconv.Itoa(pid)+"/ns/net", r.busybox, "wget", "-q", "-O", "-",
		"http://127.0.0.1:4070/?action=getInfo")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("getInfo in the namespace of pid %d: %v: %s", pid, err, stderr.Bytes())
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("getInfo answer %q: %w", out, err)
	}
	return m, nil
}

func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil && !zombie(pid)
}

// zombie: an ended child not yet reaped (by init, after the supervisor
// was orphaned) still answers kill -0.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

func (r *initRoot) killAll() {
	for _, p := range []string{"supervisor.pid", "speakerbox.pid"} {
		if n := r.pid(p); n > 0 {
			syscall.Kill(n, syscall.SIGKILL)
		}
	}
}

// waitStarted waits for a speaker other than prev to be started and
// logged, and returns its pid.
func (r *initRoot) waitStarted(prev int) int {
	r.t.Helper()
	pid := 0
	r.waitFor("a speaker other than pid "+strconv.Itoa(prev), func() error {
		pid = r.pid("speakerbox.pid")
		if pid == 0 || pid == prev || !strings.Contains(r.log(), fmt.Sprintf("started pid %d\n", pid)) {
			return errors.New("not started yet")
		}
		return nil
	})
	return pid
}

// inOrder reports whether each fragment appears in s after the previous one.
func inOrder(s string, fragments ...string) bool {
	for _, f := range fragments {
		i := strings.Index(s, f)
		if i < 0 {
			return false
		}
		s = s[i+len(f):]
	}
	return true
}

func TestInitScript(t *testing.T) {
	r := newInitRoot(t)
	settings := filepath.Join(r.dir, "boot/speakerbox.txt")
	if err := os.WriteFile(settings, []byte("name = Init Test\nwifi_ssid = Home\nwifi_passphrase = sekret-passphrase\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// status before start: stopped, LSB status 3.
	if out, code := r.script("status"); code != 3 || !strings.Contains(out, "stopped") {
		t.Fatalf("status before start: %d %q", code, out)
	}

	out, code := r.script("start")
	if code != 0 || !strings.Contains(out, "speakerbox started") || !strings.Contains(out, "settings imported") {
		t.Fatalf("start: %d %q", code, out)
	}
	if b, _ := os.ReadFile(settings); bytes.Contains(b, []byte("sekret")) {
		t.Errorf("the passphrase is still in the settings file:\n%s", b)
	}
	first := r.waitStarted(0)
	// The imported name reaches getInfo: settings.env was read by the
	// script and exported to the speaker.
	var info map[string]any
	r.waitFor("getInfo", func() (err error) {
		info, err = r.getInfo(first)
		return err
	})
	if info["remoteName"] != "Init Test" {
		t.Errorf("getInfo remoteName = %v, want the imported name", info["remoteName"])
	}
	if out, code := r.script("status"); code != 0 || !strings.Contains(out, fmt.Sprintf("running (pid %d)", first)) {
		t.Errorf("status: %d %q", code, out)
	}
	if out, code := r.script("start"); code != 0 || !strings.Contains(out, "already running") {
		t.Errorf("second start: %d %q", code, out)
	}

	// A crash the speaker cannot catch: respawned, the amplifier line
	// driven off in between.
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second := r.waitStarted(first)
	if !inOrder(r.log(),
		fmt.Sprintf("started pid %d", first),
		fmt.Sprintf("pid %d ended by signal 9", first),
		"OK: no relay line configured; nothing to switch off",
		fmt.Sprintf("started pid %d", second)) {
		t.Errorf("crash and respawn not in order in the log:\n%s", r.log())
	}
	r.waitFor("getInfo after the respawn", func() error { _, err := r.getInfo(second); return err })

	// restart: an orderly stop (status 0), amplifier off, a new speaker.
	supervisor := r.pid("supervisor.pid")
	out, code = r.script("restart")
	if code != 0 || !strings.Contains(out, "speakerbox stopped") || !strings.Contains(out, "speakerbox started") {
		t.Fatalf("restart: %d %q", code, out)
	}
	if alive(supervisor) || alive(second) {
		t.Errorf("after restart the old supervisor (%d, %v) or speaker (%d, %v) runs", supervisor, alive(supervisor), second, alive(second))
	}
	third := r.waitStarted(second)
	if !inOrder(r.log(),
		fmt.Sprintf("pid %d exited with status 0", second),
		"OK: no relay line configured; nothing to switch off",
		"supervisor stopped",
		fmt.Sprintf("started pid %d", third)) {
		t.Errorf("restart not in order in the log:\n%s", r.log())
	}
	// Unchanged settings are not imported again.
	if !strings.Contains(out, "settings unchanged") {
		t.Errorf("restart imported the settings again: %q", out)
	}

	r.waitFor("getInfo after the restart", func() error { _, err := r.getInfo(third); return err })
	supervisor = r.pid("supervisor.pid")
	if out, code := r.script("stop"); code != 0 || !strings.Contains(out, "speakerbox stopped") {
		t.Fatalf("stop: %d %q", code, out)
	}
	if alive(supervisor) || alive(third) {
		t.Errorf("after stop the supervisor (%d) or speaker (%d) still runs", supervisor, third)
	}
	if !inOrder(r.log(), fmt.Sprintf("pid %d exited with status 0", third), "nothing to switch off", "supervisor stopped") {
		t.Errorf("stop not in order in the log:\n%s", r.log())
	}
	if out, code := r.script("status"); code != 3 {
		t.Errorf("status after stop: %d %q", code, out)
	}
	if out, code := r.script("stop"); code != 0 || !strings.Contains(out, "not running") {
		t.Errorf("stop when stopped: %d %q", code, out)
	}
	if _, code := r.script("bogus"); code != 2 {
		t.Errorf("unknown action: status %d, want 2", code)
	}
}

// A bad settings file is reported with its key and line, and the speaker
// still starts, on its defaults.
func TestInitScriptBadSettings(t *testing.T) {
	r := newInitRoot(t)
	bad := "name = Never Used\nrelay_line = GPIO 17\n"
	settings := filepath.Join(r.dir, "boot/speakerbox.txt")
	if err := os.WriteFile(settings, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := r.script("start")
	if code != 0 || !strings.Contains(out, "relay_line (gpio.relay_line)") || !strings.Contains(out, "speakerbox.txt:2") || !strings.Contains(out, "speakerbox started") {
		t.Fatalf("start with a bad settings file: %d %q", code, out)
	}
	pid := r.waitStarted(0)
	var info map[string]any
	r.waitFor("getInfo", func() (err error) {
		info, err = r.getInfo(pid)
		return err
	})
	if name, _ := info["remoteName"].(string); name == "" || name == "Never Used" {
		t.Errorf("remoteName %q: the speaker did not start on its defaults", name)
	}
	if b, _ := os.ReadFile(settings); string(b) != bad {
		t.Errorf("the bad settings file was changed:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "var/lib/speakerbox/settings.env")); !os.IsNotExist(err) {
		t.Errorf("a bad settings file left settings.env: %v", err)
	}
	if out, code := r.script("stop"); code != 0 {
		t.Errorf("stop: %d %q", code, out)
	}
}

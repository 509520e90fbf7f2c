package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/vm"
)

// The cards of `make image` booted as they are, under QEMU's Pi machines:
// each card boots two or three times with its console driven like an
// owner's serial cable would (checks 1-6 of issue 12):
//
//	boot 1 (fresh card): read-only root, /tmp, data mount; the settings
//	  imported (the name reaches getInfo); SIGKILL, respawn and the relay
//	  driven off in between; stop and restart; `speakerbox play` to
//	  snd-aloop; the clock's floor; then a clean reboot (the clock saved).
//	boot 2: the clock kept its floor across the reboot; the same device id
//	  and no second import; a bad settings line reported with its key and
//	  line while the speaker still runs; then (pi3) the power is cut while
//	  credentials are written, or (pi2, pi0) a reboot.
//	boot 3 (pi3): the data partition mounts cleanly and the credentials are
//	  whole and no older than the last write the guest finished.
type cardDef struct {
	board   string
	machine vm.Machine
	dtb     string
	extra   string // QEMU-only kernel command-line words
	goarch  string
	goarm   string
	debArch string // Debian's name, for the cached kernel's modules
	// powerCut: boot 2 ends with the power cut and a third boot checks
	// what survived. One board does it (the store and ext4 code are the
	// same on every board); the others end boot 2 with a reboot, which
	// keeps the suite's time down.
	powerCut bool
	// badFirst: the card's first settings file has a bad line, so the
	// first start is on the defaults; the file is then fixed and
	// imported in the same boot.
	badFirst bool
}

var cardDefs = []cardDef{
	{board: "pi3", machine: vm.Raspi3B, dtb: "bcm2837-rpi-3-b.dtb", goarch: "arm64", debArch: "arm64", powerCut: true},
	// One core online: with four, the armmp kernel on QEMU's single
	// TCG thread took 47 s to a shell under load (19 s with one).
	{board: "pi2", machine: vm.Raspi2B, dtb: "bcm2836-rpi-2-b.dtb", extra: "maxcpus=1", goarch: "arm", goarm: "7", debArch: "armhf", badFirst: true},
	// QEMU's raspi0 has no power domain controller the kernel accepts.
	{board: "pi0", machine: vm.Raspi0, dtb: "bcm2835-rpi-zero.dtb", extra: "initcall_blacklist=bcm2835_power_driver_init", goarch: "arm", goarm: "6", debArch: "armel"},
}

// The test card's settings file: what an owner writes. Line numbers
// matter: the bad line is appended after the last.
func cardSettings(board string) string {
	return "# written by make hil\nname = hil-" + board + "\nrelay_line = GPIO17\n" + wifiSettings(board)
}

// badSetting is a line the speaker's validator refuses (not a boolean).
const badSetting = "relay_active_low = maybe"

// defaultName is the speaker's name without settings: the host name of
// the overlay's etc/hostname.
const defaultName = "speakerbox"

const fatOffset = 4 << 20 // the boot partition's start (cmd/speakerbox-image/internal/disk)

type cardCheck struct {
	id, detail string
	pass       bool
	tail       []string
}

type cardRun struct {
	def  cardDef
	work string
	img  string // dist/speakerbox-<board>.img

	mu     sync.Mutex
	checks []cardCheck
	err    error
	// measured
	bannerAt, infoAfterRestart time.Duration
	boots                      []time.Duration
}

func (c *cardRun) check(id string, pass bool, detail string, tail []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !pass && len(tail) > 12 {
		tail = tail[len(tail)-12:]
	}
	if pass {
		tail = nil
	}
	c.checks = append(c.checks, cardCheck{id: "card-" + c.def.board + "-" + id, pass: pass, detail: detail, tail: tail})
}

// cardIDs are the checks each card reports, in order; a check a failed
// boot never reached fails with the boot's error.
var cardIDs = []string{"1-readonly", "7-wifi", "7-wifi-join", "2-bad-first-boot", "2-import", "4-getinfo", "3-respawn", "3-stop-restart", "4-play", "6-clock-floor",
	"6-clock-reboot", "2-second-boot", "6-clock-tls", "2-bad-settings", "5-power-cut"}

func (c *cardRun) results() []cardCheck {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []cardCheck
	for _, id := range cardIDs {
		if id == "5-power-cut" && !c.def.powerCut || id == "2-bad-first-boot" && !c.def.badFirst || id == "7-wifi-join" && c.def.board != wifiJoinBoard {
			continue
		}
		full := "card-" + c.def.board + "-" + id
		found := false
		for _, k := range c.checks {
			if k.id == full {
				out = append(out, k)
				found = true
			}
		}
		if !found {
			why := "not reached"
			if c.err != nil {
				why = "not reached: " + c.err.Error()
			}
			out = append(out, cardCheck{id: full, detail: why})
		}
	}
	return out
}

// prepare copies the card, puts the test's settings, the test tone and
// cardtool on its boot partition (as an owner could), and takes the
// kernel, initramfs, device tree and cmdline.txt from it for QEMU, which
// does not run the Pi's firmware.
func (c *cardRun) prepare(ctx context.Context, tone string) (card string, spec vm.Spec, err error) {
	if err := os.MkdirAll(c.work, 0o755); err != nil {
		return "", spec, err
	}
	if _, err := os.Stat(c.img); err != nil {
		return "", spec, fmt.Errorf("%s is missing (run `make images`)", c.img)
	}
	card = filepath.Join(c.work, "card.img")
	if out, err := exec.CommandContext(ctx, "cp", "--sparse=always", c.img, card).CombinedOutput(); err != nil {
		return "", spec, fmt.Errorf("copy card: %v: %s", err, out)
	}
	tool := filepath.Join(c.work, "cardtool")
	b := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", tool, "./cmd/speakerbox-hil/cardtool")
	b.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+c.def.goarch, "GOARM="+c.def.goarm)
	if out, err := b.CombinedOutput(); err != nil {
		return "", spec, fmt.Errorf("build cardtool: %v: %s", err, out)
	}
	settings := filepath.Join(c.work, "speakerbox.txt")
	text := cardSettings(c.def.board)
	if c.def.badFirst {
		text += badSetting + "\n"
	}
	if err := os.WriteFile(settings, []byte(text), 0o644); err != nil {
		return "", spec, err
	}
	fat := fmt.Sprintf("%s@@%d", card, fatOffset)
	mt := func(args ...string) error {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := mt("mcopy", "-o", "-i", fat, settings, tone, tool, "::"); err != nil {
		return "", spec, err
	}
	if c.def.board == wifiJoinBoard {
		hw := filepath.Join(c.work, "hwsim")
		_ = os.RemoveAll(hw)
		if err := hwsimFiles(c.def.debArch, hw); err != nil {
			return "", spec, err
		}
		if err := mt("mcopy", "-o", "-s", "-i", fat, hw, "::"); err != nil {
			return "", spec, err
		}
	}
	files := map[string]string{"vmlinuz": "", "initrd.img": "", c.def.dtb: "", "cmdline.txt": ""}
	for f := range files {
		files[f] = filepath.Join(c.work, f)
		if err := mt("mcopy", "-o", "-i", fat, "::"+f, files[f]); err != nil {
			return "", spec, fmt.Errorf("the card's boot partition: %w", err)
		}
	}
	cmdline, err := os.ReadFile(files["cmdline.txt"])
	if err != nil {
		return "", spec, err
	}
	spec = vm.Spec{Name: "card-" + c.def.board, Machine: c.def.machine, Kernel: files["vmlinuz"], Initrd: files["initrd.img"],
		DTB: files[c.def.dtb], SD: card, Cmdline: strings.TrimSpace(string(cmdline) + " " + c.def.extra)}
	return card, spec, nil
}

// boot runs one boot with script driving its console. cut ends the boot
// by killing QEMU (a power cut) once script returns; otherwise the script
// ends with a reboot and QEMU exits by itself.
func (c *cardRun) boot(ctx context.Context, spec vm.Spec, n int, cut bool, timeout time.Duration, script func(ctx context.Context, sh *shell, start time.Time) error) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	defer w.Close()
	spec.Console = r
	spec.Timeout = timeout
	spec.SerialLog = filepath.Join(c.work, fmt.Sprintf("serial-%d.log", n))
	sh := newShell(w)
	vctx, kill := context.WithCancel(ctx)
	defer kill()
	start := time.Now()
	var serr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		serr = script(vctx, sh, start)
		if serr != nil || cut {
			kill()
		}
	}()
	res, err := vm.Run(vctx, spec, func(l vm.Line) { sh.add(l.T, l.Text) })
	sh.end()
	wg.Wait()
	c.mu.Lock()
	c.boots = append(c.boots, res.Elapsed)
	c.mu.Unlock()
	switch {
	case err != nil:
		return fmt.Errorf("boot %d: %w", n, err)
	case serr != nil:
		return fmt.Errorf("boot %d: %w", n, serr)
	case res.Stopped && !cut:
		return fmt.Errorf("boot %d: stopped", n)
	case res.TimedOut:
		return fmt.Errorf("boot %d: host timeout %v", n, timeout)
	}
	return nil
}

var (
	bannerRE   = regexp.MustCompile(`Enter 'help' for a list`)
	clockSetRE = regexp.MustCompile(`clock: set forward from (\d+) to (\d+)`)
	numRE      = regexp.MustCompile(`^\s*(\d+)\s*$`)
)

// getInfoCmd waits for the speaker's ZeroConf API and prints getInfo. The
// card has no network QEMU can give a raspi machine, so the speaker runs
// with zeroconf.interfaces=lo (see start below) and is asked from inside.
const getInfoCmd = `rm -f /tmp/info; i=0; until wget -q -O /tmp/info 'http://127.0.0.1:4070/?action=getInfo'; do i=$((i+1)); [ $i -gt 500 ] && break; usleep 200000; done; cat /tmp/info 2>/dev/null || { echo 'no getInfo; the log:'; logread | tail -n 25; }; echo`

type cardInfo struct {
	RemoteName string `json:"remoteName"`
	DeviceID   string `json:"deviceID"`
}

func parseInfo(out []string) (cardInfo, error) {
	for _, l := range out {
		if i := strings.Index(l, "{"); i >= 0 {
			var g cardInfo
			if err := json.Unmarshal([]byte(l[i:]), &g); err == nil && g.DeviceID != "" {
				return g, nil
			}
		}
	}
	return cardInfo{}, fmt.Errorf("no getInfo answer in %q", out)
}

// wifiCheckCmd runs the card's wpa_supplicant for real: its version (the
// loader found every library), then as a daemon on the loopback interface
// with the wired driver (QEMU's Pi machines have no Wi-Fi chip), asked for
// its state by wpa_cli over the control socket; then S40network's log line
// for a card whose settings name no network, and the kernel's time for a
// ready random pool (the HW RNG credited: rng_core.default_quality).
const wifiCheckCmd = `wpa_supplicant -v >/tmp/wpa.v 2>&1; echo wpa-version=$?; head -n 1 /tmp/wpa.v; ` +
	`printf 'ctrl_interface=/run/hil-wpa\nap_scan=0\nnetwork={\n\tkey_mgmt=NONE\n}\n' >/tmp/hil-wpa.conf; ` +
	`wpa_supplicant -B -D wired -i lo -c /tmp/hil-wpa.conf -P /tmp/hil-wpa.pid >/tmp/wpa.log 2>&1; echo wpa-daemon=$?; ` +
	`i=0; until wpa_cli -p /run/hil-wpa -i lo status >/tmp/wpa.st 2>&1 && grep -q '^wpa_state=' /tmp/wpa.st; do i=$((i+1)); [ $i -gt 100 ] && break; usleep 100000; done; ` +
	`grep -E '^wpa_state=' /tmp/wpa.st || cat /tmp/wpa.st /tmp/wpa.log; kill "$(cat /tmp/hil-wpa.pid)"; ` +
	`i=0; until logread | grep -qE 'speakerbox-network: network: (no Wi-Fi|Wi-Fi)'; do i=$((i+1)); [ $i -gt 300 ] && break; usleep 200000; done; logread | grep 'speakerbox-network' | tail -n 3; ` +
	`dmesg | grep -E 'crng init done' | head -n 1`

var crngRE = regexp.MustCompile(`\[\s*(\d+\.\d+)\]\s+random: crng init done`)

// evalWifi judges wifiCheckCmd's output.
func evalWifi(out []string, want string) (bool, string) {
	all := strings.Join(out, "\n")
	ver := strings.Contains(all, "wpa-version=0") && strings.Contains(all, "wpa_supplicant v2.")
	daemon := strings.Contains(all, "wpa-daemon=0") && regexp.MustCompile(`(?m)^wpa_state=[A-Z_]+$`).MatchString(all)
	script := strings.Contains(all, want)
	crng := "not in dmesg"
	if m := crngRE.FindStringSubmatch(all); m != nil {
		crng = m[1] + " s after the kernel started"
	}
	return ver && daemon && script, fmt.Sprintf("wpa_supplicant -v runs (%v), as a daemon on lo answers wpa_cli status (%v), S40network logged why Wi-Fi is off (%v); random pool ready %s", ver, daemon, script, crng)
}

// restartOnLo restarts the speaker through its init script with the
// ZeroConf API on the loopback interface (RUN_ARGS is the init script's
// hook for extra options).
const restartOnLo = `RUN_ARGS=--zeroconf.interfaces=lo /etc/init.d/S95speakerbox restart`

func (c *cardRun) run(ctx context.Context, tone string, logf func(string, ...any)) {
	_, spec, err := c.prepare(ctx, tone)
	if err != nil {
		c.err = err
		return
	}
	var deviceID string
	var t1 int64
	var build int64
	// Boot 1.
	err = c.boot(ctx, spec, 1, false, 240*time.Second, func(ctx context.Context, sh *shell, start time.Time) error {
		i, _, err := sh.wait(ctx, 0, bannerRE, 200*time.Second)
		if err != nil {
			return err
		}
		c.bannerAt = sh.timeOf(i).Sub(start)
		sh.run(ctx, "PS1=; stty -echo", 10*time.Second)

		out, rc, err := sh.run(ctx, `touch /hil-ro; echo touch=$?; echo tmp-ok >/tmp/hil && cat /tmp/hil; grep -E ' (/|/tmp|/var/lib/speakerbox|/boot) ' /proc/mounts`, 20*time.Second)
		if err != nil {
			return err
		}
		all := strings.Join(out, "\n")
		ok := rc == 0 && strings.Contains(all, "touch=1") && strings.Contains(all, "Read-only file system") && strings.Contains(all, "tmp-ok") &&
			regexp.MustCompile(`(?m)^\S+ / squashfs ro[, ]`).MatchString(all) &&
			regexp.MustCompile(`(?m)^/dev/mmcblk0p4 /var/lib/speakerbox ext4 rw[, ]`).MatchString(all) &&
			regexp.MustCompile(`(?m)^tmpfs /tmp tmpfs rw[, ]`).MatchString(all)
		c.check("1-readonly", ok, "a write to / fails (read-only squashfs), /tmp is a writable tmpfs, the data partition is ext4 rw at /var/lib/speakerbox", out)

		out, _, err = sh.run(ctx, wifiCheckCmd, 100*time.Second)
		if err != nil {
			return err
		}
		// The joining board's settings name a network, which S40network
		// cannot find before the test loads its simulated radios.
		want := "network: no Wi-Fi network in the settings"
		if c.def.board == wifiJoinBoard {
			want = "network: Wi-Fi not started: no wlan0 after 30 s"
		}
		ok, detail := evalWifi(out, want)
		c.check("7-wifi", ok, detail, out)

		// The build time is the clock's floor; QEMU starts the clock at 0.
		out, _, err = sh.run(ctx, `cat /etc/speakerbox/build-time; date +%s`, 10*time.Second)
		if err != nil {
			return err
		}
		var nums []int64
		for _, l := range out {
			if m := numRE.FindStringSubmatch(l); m != nil {
				v, _ := strconv.ParseInt(m[1], 10, 64)
				nums = append(nums, v)
			}
		}
		j, m, _ := sh.wait(ctx, 0, clockSetRE, time.Second)
		if len(nums) == 2 && j >= 0 {
			build = nums[0]
			from, _ := strconv.ParseInt(m[1], 10, 64)
			c.check("6-clock-floor", from < 1e6 && nums[1] >= build, fmt.Sprintf("the guest started in 1970 (%d s) and the clock was set to the build time floor %d; now %d", from, build, nums[1]), out)
		} else {
			c.check("6-clock-floor", false, "no build time, date or `clock: set forward` line", out)
		}

		rs := sh.mark()
		out, rc, err = sh.run(ctx, restartOnLo, 60*time.Second)
		if err != nil {
			return err
		}
		if rc != 0 {
			c.check("4-getinfo", false, "restart failed", out)
		}
		out, _, err = sh.run(ctx, getInfoCmd, 150*time.Second)
		if err != nil {
			return err
		}
		info, ierr := parseInfo(out)
		c.infoAfterRestart = sh.timeOf(sh.mark() - 1).Sub(sh.timeOf(rs))
		c.check("4-getinfo", ierr == nil, fmt.Sprintf("getInfo answered %v after the restart (the shell came up %.1fs after power-on): %v", c.infoAfterRestart.Round(100*time.Millisecond), c.bannerAt.Seconds(), orErr(info.DeviceID != "", ierr)), out)
		deviceID = info.DeviceID
		if c.def.badFirst {
			// A new card whose settings file is bad: the speaker runs on
			// its defaults and the log names the key and the line.
			bad := strings.Count(cardSettings(c.def.board), "\n") + 1
			lg, _, err := sh.run(ctx, `logread | grep -E 'relay_active_low' | tail -n 2`, 10*time.Second)
			if err != nil {
				return err
			}
			all := strings.Join(lg, "\n")
			c.check("2-bad-first-boot", info.RemoteName == defaultName && regexp.MustCompile(fmt.Sprintf(`relay_active_low.*\b%d\b`, bad)).MatchString(all) && strings.Contains(all, "maybe"),
				fmt.Sprintf("a new card with a bad line %d: the speaker answers getInfo on its defaults (name %q) and the log names the key, value and line", bad, info.RemoteName), append(out, lg...))
			// The owner fixes the file: imported in the same boot.
			out, _, err = sh.run(ctx, `mount -o remount,rw /boot && sed -i '/relay_active_low/d' /boot/speakerbox.txt && mount -o remount,ro /boot && `+restartOnLo+` && `+getInfoCmd, 150*time.Second)
			if err != nil {
				return err
			}
			info, ierr = parseInfo(out)
			if ierr != nil || info.DeviceID != deviceID {
				c.check("2-import", false, fmt.Sprintf("after fixing the file: %v, device id %q (was %q)", ierr, info.DeviceID, deviceID), out)
			}
		}
		lg, _, err := sh.run(ctx, `logread | grep -E 'settings imported|firstboot'`, 10*time.Second)
		if err != nil {
			return err
		}
		c.check("2-import", info.RemoteName == "hil-"+c.def.board && strings.Contains(strings.Join(lg, "\n"), "settings imported from /boot/speakerbox.txt"),
			fmt.Sprintf("first boot imported the settings: getInfo remoteName %q, log %q", info.RemoteName, strings.Join(lg, " | ")), append(out, lg...))

		// SIGKILL: respawned, with the relay line driven off in between.
		out, _, err = sh.run(ctx, `old=$(cat /run/speakerbox/speakerbox.pid); echo old=$old; kill -9 $old; i=0; until p=$(cat /run/speakerbox/speakerbox.pid 2>/dev/null) && [ -n "$p" ] && [ "$p" != "$old" ]; do i=$((i+1)); [ $i -gt 300 ] && break; usleep 100000; done; echo new=$p; i=0; until logread | grep -q "started pid $p"; do i=$((i+1)); [ $i -gt 100 ] && break; usleep 100000; done; logread | grep -E 'speakerbox-init: |relay (on|off) \(' | tail -n 8`, 60*time.Second)
		if err != nil {
			return err
		}
		c.check(evalRespawn(out))

		out, _, err = sh.run(ctx, `/etc/init.d/S95speakerbox stop; /etc/init.d/S95speakerbox status; echo status=$?; ps | grep -q "[s]peakerbox run"; echo pidof=$?; `+restartOnLo, 60*time.Second)
		if err != nil {
			return err
		}
		all = strings.Join(out, "\n")
		info2, _, err := sh.run(ctx, getInfoCmd+`; /etc/init.d/S95speakerbox status; echo status=$?`, 150*time.Second)
		if err != nil {
			return err
		}
		_, ierr = parseInfo(info2)
		c.check("3-stop-restart", strings.Contains(all, "speakerbox stopped") && strings.Contains(all, "status=3") && strings.Contains(all, "pidof=1") &&
			strings.Contains(all, "speakerbox started") && strings.Contains(strings.Join(info2, "\n"), "status=0") && ierr == nil,
			"stop ends the speaker (status 3, no `speakerbox run` process; timesync may run on), restart starts it and getInfo answers again", append(out, info2...))

		// The stream's state is read from the kernel while it plays: the
		// device really ran, not just a program that exited 0.
		out, rc, err = sh.run(ctx, `modprobe snd-aloop && cp /boot/tone.ogg /tmp/ && { speakerbox play --output alsa --audio.device=hw:Loopback,0 --audio.buffer=1s /tmp/tone.ogg >/tmp/play.log 2>&1; echo play=$? >>/tmp/play.log; } & i=0; until grep -q RUNNING /proc/asound/Loopback/pcm0p/sub0/status 2>/dev/null; do i=$((i+1)); [ $i -gt 300 ] && break; usleep 50000; done; grep -E 'state|hw_ptr' /proc/asound/Loopback/pcm0p/sub0/status; wait; tail -n 5 /tmp/play.log`, 120*time.Second)
		if err != nil {
			return err
		}
		all = strings.Join(out, "\n")
		c.check("4-play", rc == 0 && strings.Contains(all, "state: RUNNING") && strings.Contains(all, "play=0") && !strings.Contains(strings.ToLower(all), "error"),
			"`speakerbox play` to snd-aloop: the kernel showed the playback stream RUNNING, and play exited 0", out)

		if c.def.board == wifiJoinBoard {
			if err := c.runWifiJoin(ctx, sh); err != nil {
				return err
			}
		}
		out, _, err = sh.run(ctx, `date +%s`, 10*time.Second)
		if err != nil {
			return err
		}
		for _, l := range out {
			if m := numRE.FindStringSubmatch(l); m != nil {
				t1, _ = strconv.ParseInt(m[1], 10, 64)
			}
		}
		return sh.send("reboot")
	})
	if err != nil {
		c.err = err
		return
	}

	// Boot 2.
	var written int
	err = c.boot(ctx, spec, 2, c.def.powerCut, 240*time.Second, func(ctx context.Context, sh *shell, start time.Time) error {
		if _, _, err := sh.wait(ctx, 0, bannerRE, 200*time.Second); err != nil {
			return err
		}
		sh.run(ctx, "PS1=; stty -echo", 10*time.Second)
		j, m, _ := sh.wait(ctx, 0, clockSetRE, time.Second)
		if j >= 0 {
			to, _ := strconv.ParseInt(m[2], 10, 64)
			c.check("6-clock-reboot", t1 > 0 && to >= t1 && to > build,
				fmt.Sprintf("after the reboot the clock started in 1970 again and was set to %d, the time saved at shutdown (boot 1 read %d; build time %d)", to, t1, build), sh.since(0))
		} else {
			c.check("6-clock-reboot", false, "no `clock: set forward` line on the second boot", sh.since(0))
		}
		if _, _, err := sh.run(ctx, restartOnLo, 60*time.Second); err != nil {
			return err
		}
		out, _, err := sh.run(ctx, getInfoCmd+`; logread | grep -E 'settings (imported|unchanged)'`, 150*time.Second)
		if err != nil {
			return err
		}
		info, ierr := parseInfo(out)
		all := strings.Join(out, "\n")
		c.check("2-second-boot", ierr == nil && info.DeviceID == deviceID && deviceID != "" && strings.Contains(all, "settings unchanged since the import") && !strings.Contains(all, "settings imported"),
			fmt.Sprintf("device id %q kept (boot 1: %q), the settings not imported again", info.DeviceID, deviceID), out)

		// The clock in 1970 under a running speaker (cardclock.go). The
		// power-cut card does it on its third boot, with a login stored.
		if !c.def.powerCut {
			if err := c.runClockTLS(ctx, sh, false); err != nil {
				return err
			}
		}

		// A bad line: reported with its key and line, the speaker still runs.
		badLine := strings.Count(cardSettings(c.def.board), "\n") + 1
		if wifiSettings(c.def.board) != "" {
			badLine++ // the import's note where the passphrase was
		}
		out, _, err = sh.run(ctx, `mount -o remount,rw /boot && echo 'relay_active_low = maybe' >>/boot/speakerbox.txt && mount -o remount,ro /boot && `+restartOnLo+` && `+getInfoCmd+`; logread | grep -E 'relay_active_low' | tail -n 3`, 150*time.Second)
		if err != nil {
			return err
		}
		info, ierr = parseInfo(out)
		all = strings.Join(out, "\n")
		lineRE := regexp.MustCompile(fmt.Sprintf(`relay_active_low.*\b%d\b|\b%d\b.*relay_active_low`, badLine, badLine))
		c.check("2-bad-settings", ierr == nil && lineRE.MatchString(all) && strings.Contains(all, "maybe"),
			fmt.Sprintf("the bad line %d is reported with its key and value, and the speaker answers getInfo (name %q, its previous settings)", badLine, info.RemoteName), out)

		if !c.def.powerCut {
			return sh.send("reboot")
		}
		// The power cut: QEMU is killed in the middle of credential writes.
		if _, _, err := sh.run(ctx, `cp /boot/cardtool /tmp/ && chmod +x /tmp/cardtool`, 20*time.Second); err != nil {
			return err
		}
		from := sh.mark()
		if err := sh.send(`/tmp/cardtool write /var/lib/speakerbox`); err != nil {
			return err
		}
		if _, _, err := sh.wait(ctx, from, regexp.MustCompile(`HIL-CREDS-WRITTEN 25\b`), 60*time.Second); err != nil {
			return err
		}
		return nil
	})
	// The script returned while the writes go on: cut the power now.
	if err != nil {
		c.err = err
		return
	}
	if !c.def.powerCut {
		return
	}
	if b, rerr := os.ReadFile(filepath.Join(c.work, "serial-2.log")); rerr == nil {
		for _, m := range regexp.MustCompile(`HIL-CREDS-WRITTEN (\d+)`).FindAllStringSubmatch(string(b), -1) {
			written, _ = strconv.Atoi(m[1])
		}
	}

	// Boot 3.
	err = c.boot(ctx, spec, 3, false, 200*time.Second, func(ctx context.Context, sh *shell, start time.Time) error {
		if _, _, err := sh.wait(ctx, 0, bannerRE, 180*time.Second); err != nil {
			return err
		}
		sh.run(ctx, "PS1=; stty -echo", 10*time.Second)
		out, _, err := sh.run(ctx, `grep ' /var/lib/speakerbox ' /proc/mounts; dmesg | grep -i 'EXT4-fs'; cp /boot/cardtool /tmp/ && chmod +x /tmp/cardtool && /tmp/cardtool check /var/lib/speakerbox; speakerbox credentials list --state_dir /var/lib/speakerbox >/dev/null 2>&1; echo list=$?`, 60*time.Second)
		if err != nil {
			return err
		}
		c.check(evalPowerCut(out, written))
		// The login the power cut left is what the speaker would try.
		if err := c.runClockTLS(ctx, sh, true); err != nil {
			return err
		}
		return sh.send("reboot")
	})
	if err != nil {
		c.err = err
	}
}

func orErr(ok bool, err error) string {
	if err != nil {
		return err.Error()
	}
	if !ok {
		return "no device id"
	}
	return "ok"
}

var (
	oldRE     = regexp.MustCompile(`old=(\d+)`)
	newRE     = regexp.MustCompile(`new=(\d+)`)
	versRE    = regexp.MustCompile(`HIL-CREDS-VERSION (\d+) (\d+)`)
	ext4ErrRE = regexp.MustCompile(`(?i)EXT4-fs.*(error|corrupt|bad)`)
)

// evalRespawn reads the kill, the relay line switched off and the restart,
// in that order, from the init script's log.
func evalRespawn(out []string) (string, bool, string, []string) {
	all := strings.Join(out, "\n")
	o, n := oldRE.FindStringSubmatch(all), newRE.FindStringSubmatch(all)
	if o == nil || n == nil || o[1] == n[1] {
		return "3-respawn", false, "no new speaker process after SIGKILL", out
	}
	ended := strings.Index(all, "pid "+o[1]+" ended by signal 9")
	ok := false
	if ended >= 0 {
		// The first "relay off" after the kill, then the new process.
		after := all[ended:]
		off := strings.Index(after, "relay off")
		started := strings.Index(after, "started pid "+n[1])
		ok = off >= 0 && started > off
	}
	return "3-respawn", ok, fmt.Sprintf("pid %s killed (SIGKILL), the relay line driven off (`doctor gpio --off`), pid %s started: in that order in the log", o[1], n[1]), out
}

func evalPowerCut(out []string, written int) (string, bool, string, []string) {
	all := strings.Join(out, "\n")
	m := versRE.FindStringSubmatch(all)
	mounted := regexp.MustCompile(`(?m)^/dev/mmcblk0p4 /var/lib/speakerbox ext4 rw`).MatchString(all)
	if m == nil || !mounted || written == 0 {
		return "5-power-cut", false, fmt.Sprintf("after the cut (%d writes finished): data mounted %v, credentials %v", written, mounted, m != nil), out
	}
	vf, _ := strconv.Atoi(m[1])
	vs, _ := strconv.Atoi(m[2])
	ok := !ext4ErrRE.MatchString(all) && vf >= written && vs >= written && strings.Contains(all, "list=0")
	return "5-power-cut", ok, fmt.Sprintf("QEMU killed after %d finished credential writes; the data partition mounted cleanly and credentials.json is whole at version %d (the store's login at %d), none older than the last finished write", written, vf, vs), out
}

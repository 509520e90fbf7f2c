package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/plan"
	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/vm"
)

// Settings of the relay tests. The warm-up and the idle timeout are short
// so the suite stays fast, and different enough to tell apart in a trace.
const (
	relayLine   = 5 // PL061 line for the relay; line 3 is QEMU's power button
	selfLine    = 4 // PL061 line the harness self-test toggles
	warmup      = 400 * time.Millisecond
	idleTimeout = time.Second
	// zeroconfPort is the guest's fixed ZeroConf port in the appliance boot.
	zeroconfPort = 4070
	virtChip     = "9030000.pl061"
	piChip       = "pinctrl-bcm2835"
)

// soundArgs are the speakerbox settings under which a capture must equal
// the wav sink's output bit for bit: full volume, no normalisation (the
// test file has no Spotify header anyway) and no dither (TPDF dither is
// random by design).
func soundArgs(format string) []string {
	return []string{"--audio.format=" + format, "--audio.dither=false",
		"--audio.initial_volume=100", "--audio.volume_curve=fixed", "--audio.normalisation=off"}
}

// alsaArgs add the loopback device to soundArgs.
func alsaArgs(format string, extra ...string) []string {
	a := append([]string{"--output", "alsa", "--audio.device=hw:Loopback,0"}, soundArgs(format)...)
	return append(a, extra...)
}

func relayArgs(line string) []string {
	return []string{"--gpio.relay_line=" + line, "--gpio.warmup=" + warmup.String(), "--gpio.idle_timeout=" + idleTimeout.String()}
}

// guest paths
const (
	gOgg    = "/media/tone.ogg"
	gSelf   = "/media/self.wav"
	gRefS16 = "/media/ref-s16.wav"
	gRefS32 = "/media/ref-s32.wav"
)

func gBin(variant string) string { return "/bin/speakerbox-" + variant }

// vmDef is one guest of the suite.
type vmDef struct {
	name    string
	machine vm.Machine
	arch    string // Debian architecture of the kernel
	modules []string
	files   map[string]string // guest path -> host path
	plan    plan.Plan
	// checks lists the check ids in report order; host evaluations are
	// keyed by id in evals.
	checks  []string
	evals   map[string]hostEval
	timeout time.Duration
	trace   bool
	netFwd  bool
	// during reacts to console lines while the guest runs (the appliance
	// boot talks to the guest over the forwarded port).
	during func(r *vmRun, l vm.Line)
}

// hostEval computes a check from what the host saw of a finished guest.
type hostEval func(r *vmRun) (pass bool, detail string)

// suite builds the guests. bins maps a variant (amd64, arm64, armv7,
// armv6) to its host path; refs are the host wav sink's outputs.
func suite(dist string, m media, refS16, refS32 string) []*vmDef {
	bin := func(v string) string { return filepath.Join(dist, "speakerbox-linux-"+v) }
	aloop := []string{"snd-aloop"}
	pcmWait := []string{"/dev/snd/pcmC0D1c"}

	play := func(id, variant, ref, format string, extra ...string) plan.Step {
		extra = append([]string{"--audio.buffer=1s"}, extra...)
		return plan.Step{ID: id, Kind: plan.KindPlay, Bin: gBin(variant), File: gOgg, Ref: ref, Format: format, Compare: "exact",
			RefArgs: soundArgs(format),
			// A deep buffer: checks 1 and 2 are about bits, not about
			// riding out a loaded CI machine (check 3 is).
			Args: alsaArgs(format, extra...), Linger: 300 * time.Millisecond, Timeout: 30 * time.Second}
	}

	amd := &vmDef{
		name: "amd64", machine: vm.PC, arch: "amd64", modules: aloop, timeout: 90 * time.Second,
		files: map[string]string{gBin("amd64"): bin("amd64"), gOgg: m.Ogg, gSelf: m.SelfWAV, gRefS16: refS16, gRefS32: refS32},
		plan: plan.Plan{WaitFor: pcmWait, Steps: []plan.Step{
			{ID: "0-self-alsa-amd64", Kind: plan.KindLoopSelf, Ref: gSelf},
			play("1-alsa-amd64", "amd64", gRefS16, "S16_LE"),
			play("2-format-S32_LE-amd64", "amd64", gRefS32, "S32_LE"),
		}},
	}

	// Stopped for 1.2 s with a 500 ms buffer: long enough to under-run for
	// sure, and the buffer still rides out a loaded host otherwise.
	xrun := play("3-xrun-arm64", "arm64", gRefS16, "S16_LE", "--audio.buffer=500ms")
	xrun.Compare, xrun.StopAfter, xrun.StopFor, xrun.WantLog = "gap", 700*time.Millisecond, 1200*time.Millisecond, []string{"under-run", "xruns=1"}
	xrun.RejectLog = []string{"xruns=2"}
	locked := play("2-locked-rate-arm64", "arm64", gRefS16, "S16_LE")
	locked.Compare, locked.LockRate, locked.ExpectFail, locked.RefArgs = "", 48000, []string{"44100", "offers", "48000 Hz"}, nil
	arm := &vmDef{
		name: "arm64-alsa", machine: vm.Virt, arch: "arm64", modules: aloop, timeout: 150 * time.Second,
		files: map[string]string{gBin("arm64"): bin("arm64"), gBin("armv7"): bin("armv7"), gBin("armv6"): bin("armv6"),
			gOgg: m.Ogg, gSelf: m.SelfWAV, gRefS16: refS16, gRefS32: refS32},
		plan: plan.Plan{WaitFor: pcmWait, Steps: []plan.Step{
			{ID: "0-self-alsa-arm64", Kind: plan.KindLoopSelf, Ref: gSelf},
			{ID: "0-self-locked-rate", Kind: plan.KindLoopSelf, Ref: gSelf, LockRate: 48000},
			// An under-run of our own, to tell the driver's behaviour from
			// speakerbox's in check 3: without silence fill snd-aloop plays
			// the stale buffer once more; with it, one clean gap.
			{ID: "0-self-xrun-nofill", Kind: plan.KindLoopSelf, Ref: gSelf, StopAfter: 800 * time.Millisecond, StopFor: 1200 * time.Millisecond, Measure: true},
			{ID: "0-self-xrun-silencefill", Kind: plan.KindLoopSelf, Ref: gSelf, StopAfter: 800 * time.Millisecond, StopFor: 1200 * time.Millisecond, SilenceFill: true},
			play("1-alsa-arm64", "arm64", gRefS16, "S16_LE"),
			play("1-alsa-armv7", "armv7", gRefS16, "S16_LE"),
			play("1-alsa-armv6", "armv6", gRefS16, "S16_LE"),
			play("2-format-S32_LE-arm64", "arm64", gRefS32, "S32_LE"),
			locked,
			xrun,
		}},
	}

	relayPlay := play("4-relay-play", "arm64", gRefS16, "S16_LE", relayArgs(fmt.Sprintf("gpiochip0:%d", relayLine))...)
	relayPlay.Linger = idleTimeout + 800*time.Millisecond
	relayPlay.ChipLabel, relayPlay.Line = virtChip, relayLine
	sigterm := play("4-relay-sigterm", "arm64", gRefS16, "S16_LE", relayArgs(fmt.Sprintf("gpiochip0:%d", relayLine))...)
	sigterm.Compare, sigterm.Signal, sigterm.SignalAfter, sigterm.Linger, sigterm.RefArgs = "", "TERM", 500*time.Millisecond, 500*time.Millisecond, nil
	sigterm.ChipLabel, sigterm.Line = virtChip, relayLine
	sigkill := sigterm
	sigkill.ID, sigkill.Signal = "4-relay-sigkill", "KILL"
	// What the systemd unit's ExecStopPost= runs after the process died.
	sigkill.AfterArgs = []string{"doctor", fmt.Sprintf("--gpio.relay_line=gpiochip0:%d", relayLine), "gpio", "--off"}
	gpioVM := &vmDef{
		name: "arm64-gpio", machine: vm.Virt, arch: "arm64", modules: aloop, timeout: 120 * time.Second, trace: true,
		files: map[string]string{gBin("arm64"): bin("arm64"), gOgg: m.Ogg, gRefS16: refS16},
		plan: plan.Plan{WaitFor: append(pcmWait, "/dev/gpiochip0"), Steps: []plan.Step{
			{ID: "0-self-gpio", Kind: plan.KindGPIOSelf, ChipLabel: virtChip, Line: selfLine},
			relayPlay, sigterm, sigkill,
		}},
	}
	gpioVM.checks = []string{"0-self-gpio", "0-self-gpio-trace", "0-self-gpio-release", "0-self-gpio-release-level", "4-relay-play", "4-relay-timing", "4-relay-sigterm", "4-relay-sigterm-low", "4-relay-sigkill", "4-relay-sigkill-level", "4-relay-execstoppost"}
	gpioVM.evals = map[string]hostEval{
		"0-self-gpio-trace":         evalSelfTrace,
		"0-self-gpio-release-level": evalReleaseLevel,
		"4-relay-timing":            evalRelayTiming,
		"4-relay-sigterm-low":       evalSignalLevel("4-relay-sigterm", "sigterm", true),
		"4-relay-sigkill-level":     evalSignalLevel("4-relay-sigkill", "sigkill", false),
		"4-relay-execstoppost":      evalExecStopPost,
	}

	piArgs := []string{"--output", "null", "--gpio.relay_line=GPIO17", "--gpio.warmup=300ms", "--gpio.idle_timeout=300ms"}
	pi := &vmDef{
		name: "raspi3b", machine: vm.Raspi3B, arch: "arm64", modules: []string{"bcm2835_wdt"}, timeout: 150 * time.Second,
		files: map[string]string{gBin("arm64"): bin("arm64"), gOgg: m.Ogg},
		plan: plan.Plan{WaitFor: []string{"/dev/gpiochip0"}, Steps: []plan.Step{
			{ID: "0-self-gpio-pi", Kind: plan.KindGPIOSelf, ChipLabel: piChip, Line: 17, LineName: "GPIO17"},
			{ID: "5-relay-by-name", Kind: plan.KindRelayByName, Bin: gBin("arm64"), File: gOgg, Args: piArgs,
				ChipLabel: piChip, Line: 17, LineName: "GPIO17", Linger: 300 * time.Millisecond, Timeout: 60 * time.Second},
			{ID: "5-sigkill-pin", Kind: plan.KindRelayByName, Bin: gBin("arm64"), File: gOgg, Args: piArgs,
				ChipLabel: piChip, Line: 17, LineName: "GPIO17", Signal: "KILL", SignalAfter: 50 * time.Millisecond,
				Linger: 300 * time.Millisecond, Timeout: 60 * time.Second},
		}},
	}

	app := &vmDef{
		name: "appliance", machine: vm.Virt, arch: "arm64", timeout: 90 * time.Second, trace: true, netFwd: true,
		modules: []string{"snd-aloop", "virtio_mmio", "virtio_net"},
		files:   map[string]string{gBin("arm64"): bin("arm64")},
		plan: plan.Plan{WaitFor: append(pcmWait, "/dev/gpiochip0"), Steps: []plan.Step{
			{ID: "6-appliance", Kind: plan.KindAppliance, Bin: gBin("arm64"), Timeout: 80 * time.Second, ChipLabel: virtChip, Line: relayLine,
				Args: []string{"--name=hil-speaker", "--state_dir=/var/lib/speakerbox", fmt.Sprintf("--zeroconf.port=%d", zeroconfPort),
					"--audio.device=hw:Loopback,0", fmt.Sprintf("--gpio.relay_line=gpiochip0:%d", relayLine), "--log_level=debug"}},
		}},
	}
	app.checks = []string{"6-appliance"}
	app.evals = map[string]hostEval{"6-appliance": evalAppliance}
	app.during = applianceDuring

	for _, d := range []*vmDef{amd, arm, pi} {
		for _, s := range d.plan.Steps {
			d.checks = append(d.checks, s.ID)
			if s.Kind == plan.KindGPIOSelf {
				d.checks = append(d.checks, s.ID+"-release")
			}
		}
	}
	return []*vmDef{amd, arm, gpioVM, pi, app}
}

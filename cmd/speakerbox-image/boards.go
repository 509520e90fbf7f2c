package main

import (
	"fmt"
	"sort"
	"strings"
)

// board is one card `make image` builds.
type board struct {
	name string
	// arch is the Debian architecture of the kernel and BusyBox; bin the
	// suffix of the `make cross` binary.
	arch, bin string
	// triplet is the multiarch directory of the architecture's shared
	// libraries (/lib/<triplet>), where the loader looks first.
	triplet string
	// kernelMeta is Debian's meta package; it names the current ABI.
	kernelMeta string
	// dtbs are globs of device trees in the kernel package.
	dtbs []string
	// firmware lists the raspi-firmware files the board's boot ROM and
	// firmware read.
	firmware []string
	// console is the serial console on the GPIO header as this kernel
	// names it.
	console string
	// config is the board's own part of config.txt.
	config string
	// hwrng are the hardware RNG modules the initramfs loads: a card has
	// little entropy at boot, and the speaker's first getrandom would
	// wait for it.
	hwrng []string
	// creditRNG puts rng_core.default_quality on the command line, so the
	// kernel counts the hardware RNG as entropy (see cmdline).
	creditRNG bool
	// qemu describes how `make hil` boots the card: the machine, the
	// device tree and words QEMU's machine needs on the command line
	// that a real Pi must not get.
	qemuMachine, qemuDTB, qemuAppend string
}

var boards = map[string]board{
	"pi3": {
		name: "pi3", arch: "arm64", bin: "arm64", triplet: "aarch64-linux-gnu", kernelMeta: "linux-image-arm64",
		dtbs: []string{"usr/lib/linux-image-*/broadcom/bcm2837-rpi-*.dtb", "usr/lib/linux-image-*/broadcom/bcm2711-rpi-*.dtb"},
		// start4/fixup4: the same card boots a Pi 4 (Debian's arm64
		// kernel has its device tree; not a Pi 5, which it lacks).
		firmware: []string{"bootcode.bin", "start.elf", "fixup.dat", "start4.elf", "fixup4.dat"},
		console:  "ttyS1,115200",
		config: `# Pi 3, Pi 3+, Zero 2 W and Pi 4, 64-bit.
arm_64bit=1
`,
		qemuMachine: "raspi3b", qemuDTB: "bcm2837-rpi-3-b.dtb",
		hwrng: []string{"bcm2835-rng", "iproc-rng200"}, creditRNG: true, // Pi 3; Pi 4
	},
	"pi2": {
		name: "pi2", arch: "armhf", bin: "armv7", triplet: "arm-linux-gnueabihf", kernelMeta: "linux-image-armmp",
		dtbs:     []string{"usr/lib/linux-image-*/bcm2836-rpi-*.dtb", "usr/lib/linux-image-*/bcm2837-rpi-*.dtb"},
		firmware: []string{"bootcode.bin", "start.elf", "fixup.dat"},
		console:  "ttyAMA0,115200",
		config: `# Pi 2 (and Pi 3 in 32-bit mode).
`,
		qemuMachine: "raspi2b", qemuDTB: "bcm2836-rpi-2-b.dtb",
		hwrng: []string{"bcm2835-rng"}, creditRNG: true,
	},
	// Debian's armhf needs ARMv7; its armel (ARMv5TE, soft-float calls)
	// is what runs on the Zero's ARM1176, for the kernel, BusyBox and
	// wpa_supplicant alike. Raspbian's ARMv6 hard-float is not a Debian
	// archive the private APT can use.
	"pi0": {
		name: "pi0", arch: "armel", bin: "armv6", triplet: "arm-linux-gnueabi", kernelMeta: "linux-image-rpi",
		dtbs:     []string{"usr/lib/linux-image-*/bcm2835-rpi-*.dtb"},
		firmware: []string{"bootcode.bin", "start.elf", "fixup.dat"},
		console:  "ttyAMA0,115200",
		config: `# Pi Zero, Zero W and Pi 1 (armv6).
`,
		qemuMachine: "raspi0", qemuDTB: "bcm2835-rpi-zero.dtb",
		// No hardware RNG: with bcm2835-rng credited the raspi0 guest
		// (Debian's rpi kernel, one core) hung in its second boot in 3 of
		// 4 `make hil` runs, and with it loaded uncredited once in 6 (both
		// times right after the clock was set back under the speaker);
		// cards without it never did. Until that is understood on a real
		// Zero the pool fills from interrupts, about 21 s under QEMU.
		// QEMU's raspi0 has no power domain controller the driver
		// accepts; its probe panics the kernel.
		qemuAppend: "initcall_blacklist=bcm2835_power_driver_init",
	},
}

func boardNames() string {
	var n []string
	for k := range boards {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// configTxt is the boot partition's config.txt: the firmware's settings,
// editable on any computer.
func (b board) configTxt() string {
	return fmt.Sprintf(`# config.txt for Speakerbox on the Raspberry Pi firmware. The boot
# partition holds it, so it can be edited on any computer.
%s
# Debian's kernel, with its upstream device trees and the initramfs that
# loads the SD card and file system drivers.
upstream_kernel=1
kernel=vmlinuz
initramfs initrd.img followkernel

# The serial console on the header pins (GPIO14/15).
enable_uart=1

# Sound. The onboard output is on. For a DAC HAT, remove the # in front of
# its dtoverlay line (one only; the firmware takes no comment at the end of
# a line), copy the overlay's .dtbo from Raspberry Pi's firmware (the
# overlays/ directory) into overlays/ on this partition, and set
# audio_device in speakerbox.txt to the card name given.
dtparam=audio=on
# HiFiBerry DAC / MiniAmp: audio_device = sndrpihifiberry
#dtoverlay=hifiberry-dac
# HiFiBerry DAC+ / DAC2 HD: audio_device = sndrpihifiberry
#dtoverlay=hifiberry-dacplus
# HiFiBerry Amp / Amp+: audio_device = sndrpihifiberry
#dtoverlay=hifiberry-amp
# IQaudio DAC / DAC+ / DigiAMP+: audio_device = IQaudIODAC
#dtoverlay=iqaudio-dacplus
# JustBoom DAC / Amp: audio_device = sndrpijustboomd
#dtoverlay=justboom-dac
`, b.config)
}

// cmdline is cmdline.txt: one line, the last console is where the shell
// and the boot messages go.
func (b board) cmdline() string {
	// rng_core.default_quality: the Pi's hardware RNG (loaded by the
	// initramfs) is credited as entropy, so the random pool is ready in
	// the first seconds rather than after minutes of interrupt timing,
	// and nothing that reads getrandom (TLS, the speaker's keys) blocks.
	rng := ""
	if b.creditRNG {
		rng = " rng_core.default_quality=1000"
	}
	return "console=tty1 console=" + b.console + " root=/dev/mmcblk0p2 rootfstype=squashfs ro rootwait quiet" + rng + "\n"
}

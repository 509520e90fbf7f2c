package main

import (
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox-image/internal/disk"
	"github.com/speakerbox/speakerbox/internal/cpio"
	"github.com/speakerbox/speakerbox/internal/kmod"
)

//go:embed init.sh
var initScript []byte

// Partition sizes asked of disk.Plan. The root slots hold a squashfs of
// about 20 MB today: 64 MiB leaves room for updates written to the
// inactive slot. The data partition takes what the power of two leaves.
var sizes = disk.Sizes{Boot: 64 << 20, Root: 64 << 20, Data: 16 << 20}

// Modules of the initramfs, in the order asked: the SD host controllers
// (sdhost and the Arasan SDHCI; a card sits on either), the root and data
// file systems, the boot partition's FAT with its code pages, and the
// watchdog (without it reboot and poweroff only halt), then the board's
// hardware RNGs (board.hwrng). A name the kernel has built in needs
// nothing; one it lacks is skipped with a note.
var initrdModules = []string{"bcm2835", "sdhci-iproc", "squashfs", "ext4", "crc32c_generic", "vfat", "nls_cp437", "nls_iso8859-1", "nls_utf8", "nls_ascii", "bcm2835_wdt"}

// initrd is initrdModules with the board's hardware RNGs.
func (b board) initrd() []string {
	return append(slices.Clip(initrdModules), b.hwrng...)
}

// Module directories copied to the root (with what they depend on): sound
// (the onboard output, DAC codecs, snd-aloop), Wi-Fi, USB Ethernet and
// the USB host, the Pi's firmware interfaces, I2C for DAC HATs.
var rootModuleDirs = []string{
	"kernel/sound", "kernel/drivers/net/wireless/broadcom", "kernel/net/wireless", "kernel/net/rfkill",
	"kernel/drivers/net/usb", "kernel/drivers/usb/dwc2", "kernel/drivers/usb/host", "kernel/drivers/staging/vc04_services",
	"kernel/drivers/i2c/busses", "kernel/drivers/char/hw_random", "kernel/drivers/watchdog/bcm2835_wdt.ko",
}

type builder struct {
	b       board
	repo    string // the repository root (overlay, settings example)
	dist    string // `make cross` output
	cache   string
	work    string
	out     string // the .img path
	logf    func(string, ...any)
	epoch   int64 // build time: the clock's floor on the card
	maxAge  time.Duration
	xz      bool
	hostBB  string // the host's busybox, for depmod and the applet list
	sizes   disk.Sizes
	summary []string
}

// step runs one stage of the build and says how long it took.
func (bl *builder) step(name string, f func() error) error {
	t := time.Now()
	bl.logf("%s ...", name)
	if err := f(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	bl.logf("%s done in %.1fs", name, time.Since(t).Seconds())
	return nil
}

type parts struct {
	firmware, kernel, busybox, certs, brcm string // unpacked package trees
	kver                                   string
	modules                                string // lib/modules/<kver> in the kernel tree
	apt                                    *debs  // for the packages fetched later (wifi)
}

func (bl *builder) build(ctx context.Context) error {
	var p parts
	if err := bl.step("fetch Debian packages ("+bl.b.arch+")", func() error { return bl.fetch(ctx, &p) }); err != nil {
		return err
	}
	stage := filepath.Join(bl.work, "root")
	bootDir := filepath.Join(bl.work, "boot")
	if err := bl.step("assemble the root file system", func() error { return bl.rootfs(ctx, p, stage) }); err != nil {
		return err
	}
	if err := bl.step("initramfs", func() error { return bl.initramfs(p, filepath.Join(bootDir, "initrd.img")) }); err != nil {
		return err
	}
	if err := bl.step("boot partition files", func() error { return bl.bootFiles(ctx, p, bootDir) }); err != nil {
		return err
	}
	sqfs, fat, ext := filepath.Join(bl.work, "root.squashfs"), filepath.Join(bl.work, "boot.vfat"), filepath.Join(bl.work, "data.ext4")
	l, err := disk.Plan(bl.sizes)
	if err != nil {
		return err
	}
	if err := bl.step("squashfs root (xz)", func() error {
		return run(ctx, "mksquashfs", stage, sqfs, "-noappend", "-comp", "xz", "-all-root", "-quiet", "-no-progress",
			"-mkfs-time", fmt.Sprint(bl.epoch), "-all-time", fmt.Sprint(bl.epoch))
	}); err != nil {
		return err
	}
	if err := bl.step("FAT boot partition", func() error { return bl.fat(ctx, bootDir, fat, l.Parts[0].Size) }); err != nil {
		return err
	}
	if err := bl.step("ext4 data partition", func() error {
		if err := makeSized(ext, l.Parts[3].Size); err != nil {
			return err
		}
		return run(ctx, "mkfs.ext4", "-q", "-F", "-L", "speakerbox-data", "-E", "root_owner=0:0", "-T", "small", ext)
	}); err != nil {
		return err
	}
	if err := bl.step("card image", func() error { return bl.card(l, sqfs, fat, ext) }); err != nil {
		return err
	}
	if bl.xz {
		if err := bl.step("xz", func() error {
			_ = os.Remove(bl.out + ".xz")
			return run(ctx, "xz", "-k", "-f", "-T0", "-6", bl.out)
		}); err != nil {
			return err
		}
	}
	sum := []struct{ what, p string }{{"root squashfs", sqfs}, {"image", bl.out}}
	if bl.xz {
		sum = append(sum, struct{ what, p string }{"image.xz", bl.out + ".xz"})
	}
	for _, f := range sum {
		if fi, err := os.Stat(f.p); err == nil {
			bl.summary = append(bl.summary, fmt.Sprintf("%s %.1f MB", f.what, float64(fi.Size())/1e6))
		}
	}
	return nil
}

func (bl *builder) fetch(ctx context.Context, p *parts) error {
	d := &debs{dir: filepath.Join(bl.cache, "apt-"+bl.b.arch), arch: bl.b.arch, maxAge: bl.maxAge, logf: bl.logf}
	if err := d.setup(); err != nil {
		return err
	}
	p.apt = d
	kpkg, err := d.kernelPackage(ctx, bl.b.kernelMeta)
	if err != nil {
		return err
	}
	for _, x := range []struct {
		pkg string
		dst *string
	}{{"raspi-firmware", &p.firmware}, {kpkg, &p.kernel}, {"busybox-static", &p.busybox}, {"ca-certificates", &p.certs}, {"firmware-brcm80211", &p.brcm}} {
		if *x.dst, err = d.extract(ctx, x.pkg); err != nil {
			return err
		}
	}
	mods, _ := filepath.Glob(filepath.Join(p.kernel, "lib/modules/*"))
	if len(mods) != 1 {
		return fmt.Errorf("%s: %d module directories", kpkg, len(mods))
	}
	p.modules, p.kver = mods[0], filepath.Base(mods[0])
	bl.summary = append(bl.summary, "kernel "+kpkg)
	return nil
}

// rootfs fills stage with the root file system: BusyBox, the overlay, the
// speaker, CA certificates, wpa_supplicant, Wi-Fi firmware and the kernel
// modules.
func (bl *builder) rootfs(ctx context.Context, p parts, stage string) error {
	_ = os.RemoveAll(stage)
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc/ssl/certs", "proc", "sys", "dev", "tmp", "run", "boot",
		"var/lib/speakerbox", "root", "lib/firmware", "lib/modules"} {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o755); err != nil {
			return err
		}
	}
	if err := copyFile(filepath.Join(p.busybox, "bin/busybox"), filepath.Join(stage, "bin/busybox"), 0o755); err != nil {
		return err
	}
	// The applet links, from the host's BusyBox of the same Debian
	// package (the target's cannot run here).
	out, err := exec.CommandContext(ctx, bl.hostBB, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("busybox --list-full: %w", err)
	}
	for _, a := range strings.Fields(string(out)) {
		if a == "bin/busybox" {
			continue
		}
		dst := filepath.Join(stage, a)
		rel, _ := filepath.Rel(filepath.Dir(dst), filepath.Join(stage, "bin/busybox"))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(rel, dst); err != nil && !os.IsExist(err) {
			return err
		}
	}
	overlay := filepath.Join(bl.repo, "buildroot/board/speakerbox/rootfs-overlay")
	if err := copyTree(overlay, stage); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	if err := copyFile(filepath.Join(bl.dist, "speakerbox-linux-"+bl.b.bin), filepath.Join(stage, "usr/bin/speakerbox"), 0o755); err != nil {
		return fmt.Errorf("the speaker (run `make cross`): %w", err)
	}
	for name, data := range map[string]string{
		"etc/passwd":                "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":                 "root:x:0:\n",
		"etc/speakerbox/build-time": fmt.Sprintf("%d\n", bl.epoch),
		"etc/speakerbox/board":      bl.b.name + "\n",
		"etc/profile":               "export PATH=/bin:/sbin:/usr/bin:/usr/sbin\n",
	} {
		if err := os.WriteFile(filepath.Join(stage, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	// The CA bundle update-ca-certificates would make at install time.
	crts, _ := filepath.Glob(filepath.Join(p.certs, "usr/share/ca-certificates/mozilla/*.crt"))
	if len(crts) < 50 {
		return fmt.Errorf("ca-certificates: only %d certificates", len(crts))
	}
	sort.Strings(crts)
	var bundle bytes.Buffer
	for _, c := range crts {
		b, err := os.ReadFile(c)
		if err != nil {
			return err
		}
		bundle.Write(bytes.TrimSpace(b))
		bundle.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(stage, "etc/ssl/certs/ca-certificates.crt"), bundle.Bytes(), 0o644); err != nil {
		return err
	}
	// Wi-Fi firmware of the Pi's own chips (43430: Pi 3, Zero W; 43455:
	// Pi 3+, Pi 4; 43436: Zero 2 W), not all of Broadcom's.
	for _, pat := range []string{"lib/firmware/brcm/brcmfmac4343*", "lib/firmware/brcm/brcmfmac43455*", "lib/firmware/cypress/cyfmac4343*", "lib/firmware/cypress/cyfmac43455*"} {
		fw, _ := filepath.Glob(filepath.Join(p.brcm, pat))
		for _, f := range fw {
			rel, _ := filepath.Rel(p.brcm, f)
			if err := copyLinkOrFile(f, filepath.Join(stage, rel)); err != nil {
				return err
			}
		}
	}
	if _, err := bl.wifi(ctx, p.apt, stage); err != nil {
		return err
	}
	return bl.rootModules(ctx, p, stage)
}

func (bl *builder) rootModules(ctx context.Context, p parts, stage string) error {
	tree, err := kmod.Open(p.modules)
	if err != nil {
		return err
	}
	var names []string
	for _, d := range rootModuleDirs {
		filepath.WalkDir(filepath.Join(p.modules, d), func(q string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() && strings.HasSuffix(q, ".ko") {
				names = append(names, strings.TrimSuffix(filepath.Base(q), ".ko"))
			}
			return nil
		})
	}
	names = append(names, bl.b.initrd()...)
	dst := filepath.Join(stage, "lib/modules", p.kver)
	n := 0
	for _, name := range names {
		ms, err := tree.Resolve(name)
		if err != nil {
			continue // not in this kernel
		}
		for _, m := range ms {
			rel, _ := filepath.Rel(p.modules, m.Path)
			t := filepath.Join(dst, rel)
			if _, err := os.Stat(t); err == nil {
				continue
			}
			if err := copyFile(m.Path, t, 0o644); err != nil {
				return err
			}
			n++
		}
	}
	for _, f := range []string{"modules.builtin", "modules.builtin.modinfo", "modules.order"} {
		if _, err := os.Stat(filepath.Join(p.modules, f)); err == nil {
			if err := copyFile(filepath.Join(p.modules, f), filepath.Join(dst, f), 0o644); err != nil {
				return err
			}
		}
	}
	// modprobe (and the kernel's request_module) need modules.dep; Debian
	// makes it at install time, so BusyBox's depmod makes it here.
	if err := run(ctx, bl.hostBB, "depmod", "-b", stage, p.kver); err != nil {
		return err
	}
	bl.summary = append(bl.summary, fmt.Sprintf("%d kernel modules", n))
	return nil
}

func (bl *builder) initramfs(p parts, out string) error {
	tree, err := kmod.Open(p.modules)
	if err != nil {
		return err
	}
	var order []kmod.Module
	seen := map[string]bool{}
	var skipped []string
	for _, name := range bl.b.initrd() {
		ms, err := tree.Resolve(name)
		if err != nil {
			skipped = append(skipped, name)
			continue
		}
		for _, m := range ms {
			if !seen[m.Name] {
				seen[m.Name] = true
				order = append(order, m)
			}
		}
	}
	if len(skipped) > 0 {
		bl.logf("  initramfs: not in %s (built in under another name, or absent): %s", p.kver, strings.Join(skipped, " "))
	}
	var raw bytes.Buffer
	w := cpio.NewWriter(&raw)
	for _, d := range []string{"bin", "dev", "proc", "sys", "newroot", "etc", "lib", "lib/modules"} {
		if err := w.Dir(d, 0o755); err != nil {
			return err
		}
	}
	bb, err := os.ReadFile(filepath.Join(p.busybox, "bin/busybox"))
	if err != nil {
		return err
	}
	if err := w.File("bin/busybox", 0o755, bb); err != nil {
		return err
	}
	if err := w.File("init", 0o755, initScript); err != nil {
		return err
	}
	var list strings.Builder
	for _, m := range order {
		b, err := os.ReadFile(m.Path)
		if err != nil {
			return err
		}
		if err := w.File("lib/modules/"+m.Name+".ko", 0o644, b); err != nil {
			return err
		}
		list.WriteString(m.Name + "\n")
	}
	if err := w.File("etc/modules", 0o644, []byte(list.String())); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		f.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (bl *builder) bootFiles(ctx context.Context, p parts, dir string) error {
	fwDir := filepath.Join(p.firmware, "usr/lib/raspi-firmware")
	for _, f := range bl.b.firmware {
		if err := copyFile(filepath.Join(fwDir, f), filepath.Join(dir, f), 0o644); err != nil {
			return fmt.Errorf("raspi-firmware: %w", err)
		}
	}
	k, _ := filepath.Glob(filepath.Join(p.kernel, "boot/vmlinuz-*"))
	if len(k) != 1 {
		return fmt.Errorf("kernel package: %d kernel images", len(k))
	}
	if err := copyFile(k[0], filepath.Join(dir, "vmlinuz"), 0o644); err != nil {
		return err
	}
	n := 0
	for _, g := range bl.b.dtbs {
		ds, _ := filepath.Glob(filepath.Join(p.kernel, g))
		for _, d := range ds {
			if err := copyFile(d, filepath.Join(dir, filepath.Base(d)), 0o644); err != nil {
				return err
			}
			n++
		}
	}
	if _, err := os.Stat(filepath.Join(dir, bl.b.qemuDTB)); err != nil {
		return fmt.Errorf("device tree %s not in the kernel package (%d found)", bl.b.qemuDTB, n)
	}
	settings := filepath.Join(bl.repo, "buildroot/board/speakerbox/boot/speakerbox.txt")
	if err := copyFile(settings, filepath.Join(dir, "speakerbox.txt"), 0o644); err != nil {
		return err
	}
	if err := validateSettings(ctx, filepath.Join(bl.dist, "speakerbox-linux-amd64"), filepath.Join(dir, "speakerbox.txt")); err != nil {
		return err
	}
	for name, data := range map[string]string{"config.txt": bl.b.configTxt(), "cmdline.txt": bl.b.cmdline()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// validateSettings runs the speaker's own validator (bin is a binary for
// this host) on the settings file the card carries: an example the speaker
// would refuse never reaches a card.
func validateSettings(ctx context.Context, bin, settings string) error {
	if err := run(ctx, bin, "firstboot", "--check", "--settings", settings); err != nil {
		return fmt.Errorf("the settings example: %w", err)
	}
	return nil
}

func (bl *builder) fat(ctx context.Context, dir, out string, size int64) error {
	_ = os.Remove(out)
	if err := run(ctx, "mkfs.vfat", "-F", "32", "-n", "SPEAKERBOX", "-i", fmt.Sprintf("%08x", uint32(bl.epoch)), "-C", out, fmt.Sprint(size/1024)); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	args := []string{"-i", out, "-s", "-p", "-m"}
	for _, e := range ents {
		args = append(args, filepath.Join(dir, e.Name()))
	}
	args = append(args, "::")
	var used int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			used += fi.Size()
		}
	}
	bl.summary = append(bl.summary, fmt.Sprintf("boot files %.1f MB", float64(used)/1e6))
	cmd := exec.CommandContext(ctx, "mcopy", args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "SOURCE_DATE_EPOCH="+fmt.Sprint(bl.epoch))
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mcopy: %v: %s", err, b)
	}
	return nil
}

func (bl *builder) card(l disk.Layout, sqfs, fat, ext string) error {
	tmp := bl.out + ".tmp"
	if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
		return err
	}
	if err := makeSized(tmp, l.Size); err != nil {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	contents := map[string]io.Reader{}
	for name, p := range map[string]string{"boot": fat, "root-a": sqfs, "data": ext} {
		r, err := os.Open(p)
		if err != nil {
			return err
		}
		defer r.Close()
		contents[name] = r
	}
	// The disk signature names the card in cmdline.txt's PARTUUID form;
	// derived from the build time, so one build gives the same bytes.
	if err := l.Write(f, uint32(bl.epoch)^0x5b0c5b0c, contents); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range l.Parts {
		bl.summary = append(bl.summary, fmt.Sprintf("%s %d MiB at %d MiB", p.Name, p.Size>>20, p.Start>>20))
	}
	return os.Rename(tmp, bl.out)
}

// makeSized creates (or empties) a sparse file of size bytes.
func makeSized(p string, size int64) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(b)))
	}
	return nil
}

func copyFile(src, dst string, perm fs.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, perm)
}

// copyLinkOrFile copies a file, or recreates a symlink as it is.
func copyLinkOrFile(src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		t, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(t, dst)
	}
	return copyFile(src, dst, fi.Mode().Perm())
}

// copyTree copies the overlay with its modes and symlinks.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		_ = os.Remove(t)
		return copyLinkOrFile(p, t)
	})
}

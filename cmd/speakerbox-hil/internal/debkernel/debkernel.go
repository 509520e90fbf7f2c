// Package debkernel fetches Debian's own kernels (and, for foreign
// architectures, busybox-static) for the test guests, and caches what the
// guests need of them. The ABI name (6.1.0-NN) is never written down here:
// it is resolved through the linux-image-<arch> meta package each time the
// package lists are refreshed, because Debian replaces it on security
// updates and old ones leave the mirror.
package debkernel

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/speakerbox/speakerbox/internal/aptroot"
)

// Kernel is an extracted kernel ready to boot.
type Kernel struct {
	Arch    string // Debian architecture: amd64, arm64
	Package string // linux-image-6.1.0-NN-arm64
	Version string // kernel release, the name of its /lib/modules directory
	Image   string // vmlinuz path
	Modules string // /lib/modules/<Version> path
	DTBDir  string // directory of device trees ("" on amd64)
	Busybox string // a static busybox for Arch
}

// Fetcher keeps one private APT state per architecture under Dir, so no
// `dpkg --add-architecture` and no change to the host's APT state is needed.
type Fetcher struct {
	Dir    string        // cache root, e.g. .cache/hil
	MaxAge time.Duration // refresh package lists older than this
	Log    *slog.Logger
	// HostBusybox is used for the host's own architecture instead of
	// downloading one.
	HostArch, HostBusybox string
}

var dependsRE = regexp.MustCompile(`(?m)^\s*Depends:\s*(linux-image-[0-9][^\s<>]*)`)

// ParseMetaDepends picks the versioned kernel package out of
// `apt-cache depends linux-image-<arch>` output.
func ParseMetaDepends(out, arch string) (string, error) {
	for _, m := range dependsRE.FindAllStringSubmatch(out, -1) {
		if strings.HasSuffix(m[1], "-"+arch) || strings.HasSuffix(m[1], "-"+arch+"-unsigned") {
			return m[1], nil
		}
	}
	return "", fmt.Errorf("no linux-image-<abi>-%s dependency in apt-cache output %q", arch, firstLines(out, 5))
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}

// aptConfig writes the private APT configuration for arch and returns its path.
func (f *Fetcher) aptConfig(arch string) (string, error) {
	return aptroot.Setup(filepath.Join(f.Dir, "apt-"+arch), arch, nil)
}

func (f *Fetcher) run(ctx context.Context, dir, aptConf string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "APT_CONFIG="+aptConf, "LC_ALL=C")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, firstLines(errb.String(), 8))
	}
	return out.String(), nil
}

// Get returns the current kernel for arch, downloading and extracting it
// when the cache does not hold it. When the mirror cannot be reached, the
// last kernel fetched is used and a warning is logged.
func (f *Fetcher) Get(ctx context.Context, arch string) (*Kernel, error) {
	conf, err := f.aptConfig(arch)
	if err != nil {
		return nil, err
	}
	root := filepath.Dir(conf)
	stamp := filepath.Join(root, "state/updated")
	current := filepath.Join(f.Dir, "kernel-"+arch, "current")
	if fi, err := os.Stat(stamp); err != nil || time.Since(fi.ModTime()) > f.MaxAge {
		f.Log.Info("refreshing package lists", "arch", arch)
		if _, err := f.run(ctx, root, conf, "apt-get", "-q", "update"); err != nil {
			if k, kerr := f.cached(current); kerr == nil {
				f.Log.Warn("package lists could not be refreshed; using the cached kernel", "arch", arch, "kernel", k.Package, "err", err)
				return k, nil
			}
			return nil, fmt.Errorf("refresh %s package lists: %w", arch, err)
		}
		_ = os.WriteFile(stamp, nil, 0o644)
		_ = os.Chtimes(stamp, time.Now(), time.Now())
	}
	out, err := f.run(ctx, root, conf, "apt-cache", "depends", "linux-image-"+arch)
	if err != nil {
		return nil, err
	}
	pkg, err := ParseMetaDepends(out, arch)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(f.Dir, "kernel-"+arch, pkg)
	if k, err := f.cached(filepath.Join(dir, "kernel.txt")); err == nil {
		return k, nil
	}
	if err := f.extract(ctx, root, conf, arch, pkg, dir); err != nil {
		return nil, err
	}
	if err := os.WriteFile(current, []byte(pkg+"\n"), 0o644); err != nil {
		return nil, err
	}
	return f.cached(filepath.Join(dir, "kernel.txt"))
}

// cached reads a kernel description written by extract; p is either the
// description itself or the "current" pointer file naming its directory.
func (f *Fetcher) cached(p string) (*Kernel, error) {
	if filepath.Base(p) == "current" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		p = filepath.Join(filepath.Dir(p), strings.TrimSpace(string(b)), "kernel.txt")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	k := &Kernel{}
	for _, l := range strings.Split(string(b), "\n") {
		key, v, _ := strings.Cut(l, "=")
		switch key {
		case "arch":
			k.Arch = v
		case "package":
			k.Package = v
		case "version":
			k.Version = v
		}
	}
	dir := filepath.Dir(p)
	k.Image = filepath.Join(dir, "vmlinuz")
	k.Modules = filepath.Join(dir, "lib/modules", k.Version)
	if d := filepath.Join(dir, "dtbs"); isDir(d) {
		k.DTBDir = d
	}
	k.Busybox = filepath.Join(dir, "busybox")
	if k.Arch == f.HostArch && f.HostBusybox != "" {
		k.Busybox = f.HostBusybox
	}
	for _, need := range []string{k.Image, k.Modules, k.Busybox} {
		if _, err := os.Stat(need); err != nil {
			return nil, fmt.Errorf("cached kernel %s is incomplete: %w", k.Package, err)
		}
	}
	return k, nil
}

func isDir(p string) bool { fi, err := os.Stat(p); return err == nil && fi.IsDir() }

// The module directories a guest may need: sound for snd-aloop, network
// for the appliance boot, the BCM2835 watchdog so poweroff ends a raspi3b
// guest. Everything else of the 300 MB of modules stays in the deb.
var modulePatterns = []string{
	"./lib/modules/*/modules.builtin",
	"./lib/modules/*/kernel/sound/*",
	"./lib/modules/*/kernel/drivers/net/virtio_net.ko",
	"./lib/modules/*/kernel/drivers/net/net_failover.ko",
	"./lib/modules/*/kernel/net/core/failover.ko",
	"./lib/modules/*/kernel/drivers/virtio/*",
	"./lib/modules/*/kernel/drivers/watchdog/bcm2835_wdt.ko",
}

func (f *Fetcher) extract(ctx context.Context, root, conf, arch, pkg, dir string) error {
	f.Log.Info("downloading kernel", "arch", arch, "package", pkg)
	dl := filepath.Join(root, "download")
	_ = os.RemoveAll(dl)
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return err
	}
	want := []string{pkg}
	if arch != f.HostArch {
		want = append(want, "busybox-static")
	}
	if _, err := f.run(ctx, dl, conf, "apt-get", append([]string{"-q", "download"}, want...)...); err != nil {
		return err
	}
	tmp := dir + ".tmp"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	debs, _ := filepath.Glob(filepath.Join(dl, pkg+"_*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("download %s: found %d .deb files", pkg, len(debs))
	}
	pats := append([]string{"./boot/vmlinuz-*", "./usr/lib/linux-image-*/broadcom/bcm2837-rpi-3-b.dtb"}, modulePatterns...)
	if err := untar(ctx, debs[0], tmp, pats); err != nil {
		return err
	}
	imgs, _ := filepath.Glob(filepath.Join(tmp, "boot/vmlinuz-*"))
	if len(imgs) != 1 {
		return fmt.Errorf("%s: found %d kernel images", pkg, len(imgs))
	}
	version := strings.TrimPrefix(filepath.Base(imgs[0]), "vmlinuz-")
	if err := os.Rename(imgs[0], filepath.Join(tmp, "vmlinuz")); err != nil {
		return err
	}
	if dtbs, _ := filepath.Glob(filepath.Join(tmp, "usr/lib/linux-image-*/broadcom")); len(dtbs) == 1 {
		if err := os.Rename(dtbs[0], filepath.Join(tmp, "dtbs")); err != nil {
			return err
		}
	}
	if arch != f.HostArch {
		bbs, _ := filepath.Glob(filepath.Join(dl, "busybox-static_*.deb"))
		if len(bbs) != 1 {
			return fmt.Errorf("download busybox-static:%s: found %d .deb files", arch, len(bbs))
		}
		bb := filepath.Join(root, "busybox-x")
		_ = os.RemoveAll(bb)
		if err := untar(ctx, bbs[0], bb, []string{"./bin/busybox"}); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(bb, "bin/busybox"), filepath.Join(tmp, "busybox")); err != nil {
			return err
		}
	}
	desc := fmt.Sprintf("arch=%s\npackage=%s\nversion=%s\n", arch, pkg, version)
	if err := os.WriteFile(filepath.Join(tmp, "kernel.txt"), []byte(desc), 0o644); err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	_ = os.RemoveAll(dl)
	return nil
}

// untar extracts the members matching pats from a .deb's data archive.
func untar(ctx context.Context, deb, dir string, pats []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	const sh = `set -o pipefail; dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards "${@:3}"`
	// tar fails when a pattern matches nothing; the amd64 package has no
	// device trees, so filter its listing first.
	list, err := exec.CommandContext(ctx, "sh", "-c", `dpkg-deb --fsys-tarfile "$1" | tar -t`, "sh", deb).Output()
	if err != nil {
		return fmt.Errorf("list %s: %w", deb, err)
	}
	var use []string
	for _, p := range pats {
		if tarMatches(string(list), p) {
			use = append(use, p)
		}
	}
	args := append([]string{"-c", sh, "bash", deb, dir}, use...)
	if out, err := exec.CommandContext(ctx, "bash", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("extract %s: %w: %s", deb, err, firstLines(string(out), 8))
	}
	return nil
}

func tarMatches(list, pat string) bool {
	// tar's wildcards match '/', filepath.Match's do not: a pattern that
	// matches any ancestor of a member selects the member.
	pat = filepath.Clean(pat)
	for _, l := range strings.Split(list, "\n") {
		for p := filepath.Clean(l); p != "." && p != "/" && p != ""; p = filepath.Dir(p) {
			if ok, _ := filepath.Match(pat, p); ok {
				return true
			}
		}
	}
	return false
}

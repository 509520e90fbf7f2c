package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/speakerbox/speakerbox/internal/aptroot"
)

// debs fetches Debian packages of one architecture through a private APT
// state under dir (no `dpkg --add-architecture`, nothing changed on the
// host), with the host's mirror plus the non-free-firmware component that
// holds the Pi's boot firmware.
type debs struct {
	dir    string // e.g. .cache/image/apt-armhf
	arch   string
	maxAge time.Duration
	conf   string
	logf   func(string, ...any)
}

var componentsRE = regexp.MustCompile(`(?m)^(Components:.*\bmain\b.*)$`)
var listLineRE = regexp.MustCompile(`(?m)^(deb\s+(\[[^]]*\]\s+)?\S+\s+\S+\s+.*\bmain\b.*)$`)

// withFirmware adds non-free-firmware to every source of main.
func withFirmware(src string) string {
	add := func(s string) string {
		if strings.Contains(s, "non-free-firmware") {
			return s
		}
		return s + " non-free-firmware"
	}
	src = componentsRE.ReplaceAllStringFunc(src, add)
	return listLineRE.ReplaceAllStringFunc(src, add)
}

func (d *debs) setup() error {
	root, err := filepath.Abs(d.dir)
	if err != nil {
		return err
	}
	d.dir = root
	if err := os.MkdirAll(filepath.Join(root, "debs"), 0o755); err != nil {
		return fmt.Errorf("create the %s package directory: %w", d.arch, err)
	}
	if d.conf, err = aptroot.Setup(root, d.arch, withFirmware); err != nil {
		return err
	}
	stamp := filepath.Join(root, "state/updated")
	if fi, err := os.Stat(stamp); err == nil && time.Since(fi.ModTime()) < d.maxAge {
		return nil
	}
	d.logf("refreshing the %s package lists", d.arch)
	if _, err := d.run(context.Background(), "apt-get", "-q", "update"); err != nil {
		if _, lerr := os.Stat(stamp); lerr == nil {
			d.logf("package lists could not be refreshed (%v); using the ones cached", err)
			return nil
		}
		return fmt.Errorf("refresh the %s package lists: %w", d.arch, err)
	}
	return os.WriteFile(stamp, nil, 0o644)
}

func (d *debs) run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = filepath.Join(d.dir, "debs")
	cmd.Env = append(os.Environ(), "APT_CONFIG="+d.conf, "LC_ALL=C")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

var kernelDepRE = regexp.MustCompile(`(?m)^\s*Depends:\s*(linux-image-[0-9][^\s<>]*)`)

// kernelPackage resolves a meta package (linux-image-armmp) to the current
// versioned one (linux-image-6.1.0-NN-armmp): the ABI is never written down,
// Debian replaces it on every security update.
func (d *debs) kernelPackage(ctx context.Context, meta string) (string, error) {
	out, err := d.run(ctx, "apt-cache", "depends", meta)
	if err != nil {
		return "", err
	}
	flavour := strings.TrimPrefix(meta, "linux-image-")
	for _, m := range kernelDepRE.FindAllStringSubmatch(out, -1) {
		if strings.HasSuffix(m[1], "-"+flavour) || strings.HasSuffix(m[1], "-"+flavour+"-unsigned") {
			return m[1], nil
		}
	}
	return "", fmt.Errorf("no versioned kernel in `apt-cache depends %s`: %q", meta, out)
}

// extract downloads pkg (when its .deb is not cached) and unpacks it into
// a directory of its own, which it returns.
func (d *debs) extract(ctx context.Context, pkg string) (string, error) {
	out, err := d.run(ctx, "apt-cache", "policy", pkg)
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^\s*Candidate:\s*(\S+)`).FindStringSubmatch(out)
	if m == nil || m[1] == "(none)" {
		return "", fmt.Errorf("package %s:%s is not in the package lists (is non-free-firmware among the sources?)", pkg, d.arch)
	}
	ver := strings.ReplaceAll(m[1], ":", "%3a")
	tree := filepath.Join(d.dir, "trees", pkg+"_"+ver)
	if _, err := os.Stat(filepath.Join(tree, ".done")); err == nil {
		return tree, nil
	}
	debs, _ := filepath.Glob(filepath.Join(d.dir, "debs", pkg+"_"+ver+"_*.deb"))
	if len(debs) == 0 {
		d.logf("downloading %s %s (%s)", pkg, m[1], d.arch)
		if _, err := d.run(ctx, "apt-get", "-q", "download", pkg+"="+m[1]); err != nil {
			return "", err
		}
		debs, _ = filepath.Glob(filepath.Join(d.dir, "debs", pkg+"_"+ver+"_*.deb"))
	}
	if len(debs) != 1 {
		return "", fmt.Errorf("download %s: found %d .deb files", pkg, len(debs))
	}
	_ = os.RemoveAll(tree)
	if err := os.MkdirAll(filepath.Dir(tree), 0o755); err != nil {
		return "", err
	}
	if b, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], tree).CombinedOutput(); err != nil {
		return "", fmt.Errorf("unpack %s: %v: %s", debs[0], err, b)
	}
	return tree, os.WriteFile(filepath.Join(tree, ".done"), nil, 0o644)
}

package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// wifiBins are the programs of Debian's wpasupplicant the card runs:
// the supplicant (etc/init.d/S40network) and its control client, for an
// owner on the serial console. Debian builds them dynamically linked, so
// their libraries come along (elfClosure).
var wifiBins = []string{"wpa_supplicant", "wpa_cli"}

// depRE matches the dependency lines of `apt-cache depends` ("|Depends:"
// is an alternative; "<name>" a virtual package, which has no files).
var depRE = regexp.MustCompile(`(?m)^\s*\|?(?:Pre)?Depends:\s*([a-z0-9][a-z0-9.+-]*)(?::\S+)?\s*$`)

// libDeps is pkg's Depends closure limited to the shared library packages
// (Debian names them lib*, glibc is libc6): programs such as adduser that
// wpasupplicant's maintainer scripts want have no place on a read-only
// card. What is fetched is a superset; elfClosure then copies only what
// the loader would open.
func (d *debs) libDeps(ctx context.Context, pkg string) ([]string, error) {
	seen := map[string]bool{pkg: true}
	queue := []string{pkg}
	var libs []string
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out, err := d.run(ctx, "apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts",
			"--no-breaks", "--no-replaces", "--no-enhances", p)
		if err != nil {
			return nil, err
		}
		for _, m := range depRE.FindAllStringSubmatch(out, -1) {
			n := m[1]
			if seen[n] || !strings.HasPrefix(n, "lib") {
				continue
			}
			seen[n] = true
			libs = append(libs, n)
			queue = append(queue, n)
		}
	}
	sort.Strings(libs)
	return libs, nil
}

// wifi installs wpa_supplicant and wpa_cli from Debian's wpasupplicant
// with the shared libraries they load into stage, and returns how many
// bytes that added.
func (bl *builder) wifi(ctx context.Context, d *debs, stage string) (int64, error) {
	libs, err := d.libDeps(ctx, "wpasupplicant")
	if err != nil {
		return 0, fmt.Errorf("wpasupplicant's libraries: %w", err)
	}
	// One tree of every package, as dpkg would install them: the loader's
	// search needs them side by side.
	sysroot := filepath.Join(bl.work, "wifi-sysroot")
	_ = os.RemoveAll(sysroot)
	for _, pkg := range append([]string{"wpasupplicant"}, libs...) {
		tree, err := d.extract(ctx, pkg)
		if err != nil {
			return 0, err
		}
		if err := copyTree(tree, sysroot); err != nil {
			return 0, fmt.Errorf("unpack %s: %w", pkg, err)
		}
	}
	var bins []string
	for _, b := range wifiBins {
		p, err := findBin(sysroot, b)
		if err != nil {
			return 0, err
		}
		bins = append(bins, p)
	}
	files, err := elfClosure(sysroot, bl.b.triplet, bins...)
	if err != nil {
		return 0, fmt.Errorf("the libraries of wpa_supplicant: %w", err)
	}
	var added int64
	for _, b := range bins {
		src, _ := resolveIn(sysroot, b)
		n, err := installFile(src, filepath.Join(stage, "usr/sbin", path.Base(b)), 0o755)
		if err != nil {
			return 0, err
		}
		added += n
	}
	for _, f := range files {
		dst := filepath.Join(stage, filepath.FromSlash(f.Dest))
		if f.Link != "" {
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return 0, err
			}
			rel, _ := filepath.Rel(path.Dir(f.Dest), f.Link)
			_ = os.Remove(dst)
			if err := os.Symlink(rel, dst); err != nil {
				return 0, err
			}
			continue
		}
		n, err := installFile(f.Src, dst, 0o755)
		if err != nil {
			return 0, err
		}
		added += n
	}
	// The wireless regulatory database, which cfg80211 loads as firmware:
	// without it the chip stays on the world domain and the owner's
	// wifi_country (channels 12-13 in Europe, say) has no effect. Debian's
	// copy, signed with the key Debian's kernels trust; update-alternatives
	// would name it so at install time.
	regdb, err := d.extract(ctx, "wireless-regdb")
	if err != nil {
		return 0, err
	}
	for _, f := range []string{"regulatory.db", "regulatory.db.p7s"} {
		n, err := installFile(filepath.Join(regdb, "lib/firmware", f+"-debian"), filepath.Join(stage, "lib/firmware", f), 0o644)
		if err != nil {
			return 0, fmt.Errorf("wireless-regdb: %w", err)
		}
		added += n
	}
	bl.summary = append(bl.summary, fmt.Sprintf("wpa_supplicant with %d libraries (%.1f MB unpacked)", len(files), float64(added)/1e6))
	return added, nil
}

// findBin finds a program of the package in the directories Debian has
// put them in over the releases (/sbin before the /usr merge).
func findBin(sysroot, name string) (string, error) {
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := path.Join(d, name)
		if _, err := resolveIn(sysroot, p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("wpasupplicant has no %s", name)
}

func installFile(src, dst string, perm os.FileMode) (int64, error) {
	if err := copyFile(src, dst, perm); err != nil {
		return 0, err
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// libDirs are the directories glibc's loader searches when a binary names
// no path of its own (no RUNPATH in Debian's packages, no ld.so.cache on
// the card), in its order: the multiarch ones of the board's triplet
// first.
func libDirs(triplet string) []string {
	return []string{"/lib/" + triplet, "/usr/lib/" + triplet, "/lib", "/usr/lib"}
}

// elfFile is one file of a closure: where it goes on the card (an absolute
// path, the name the loader asks for) and where its bytes are in the
// sysroot, symlinks followed.
type elfFile struct {
	Dest string
	Src  string
	// Link, when set, is the Dest of the same file under another name
	// (the interpreter is also libc's DT_NEEDED ld-linux): Dest is made a
	// symlink to it rather than a second copy.
	Link string
}

// elfClosure returns what the binaries (absolute paths inside sysroot)
// need to run: their program interpreter and every shared library named by
// DT_NEEDED, recursively, as the loader finds them in libDirs(triplet). The
// binaries themselves are not in the result. A library found nowhere is an
// error naming the chain that asked for it; a library of another machine
// or class is passed over, as the loader does.
func elfClosure(sysroot, triplet string, bins ...string) ([]elfFile, error) {
	type item struct {
		dest  string
		chain []string // the names that led here, the binary first
	}
	var queue []item
	found := map[string]elfFile{}
	seenName := map[string]bool{}
	for _, b := range bins {
		queue = append(queue, item{dest: b})
	}
	var want *elf.FileHeader // the first binary's; every library must match it
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		src, err := resolveIn(sysroot, it.dest)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strings.Join(append(it.chain, it.dest), " → "), err)
		}
		f, err := elf.Open(src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strings.Join(append(it.chain, it.dest), " → "), err)
		}
		hdr := f.FileHeader
		interp, needed, err := dynInfo(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strings.Join(append(it.chain, it.dest), " → "), err)
		}
		if want == nil {
			want = &hdr
		}
		if len(it.chain) > 0 {
			found[it.dest] = elfFile{Dest: it.dest, Src: src}
		}
		chain := append(append([]string{}, it.chain...), path.Base(it.dest))
		if interp != "" && !seenName[interp] {
			seenName[interp] = true
			queue = append(queue, item{dest: interp, chain: chain})
		}
		for _, n := range needed {
			if seenName[n] {
				continue
			}
			seenName[n] = true
			dest, err := findLib(sysroot, triplet, n, *want)
			if err != nil {
				return nil, fmt.Errorf("%s → %s: %w", strings.Join(chain, " → "), n, err)
			}
			queue = append(queue, item{dest: dest, chain: chain})
		}
	}
	out := make([]elfFile, 0, len(found))
	for _, f := range found {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dest < out[j].Dest })
	first := map[string]string{} // Src → the Dest that carries it
	for i, f := range out {
		if d, ok := first[f.Src]; ok {
			out[i].Link = d
			continue
		}
		first[f.Src] = f.Dest
	}
	return out, nil
}

// dynInfo reads PT_INTERP and the DT_NEEDED names. A static binary has
// neither, and needs nothing.
func dynInfo(f *elf.File) (interp string, needed []string, err error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return "", nil, fmt.Errorf("read the program interpreter: %w", err)
		}
		interp = strings.TrimRight(string(b), "\x00")
	}
	if f.Section(".dynamic") == nil {
		return interp, nil, nil
	}
	needed, err = f.DynString(elf.DT_NEEDED)
	if err != nil {
		return "", nil, fmt.Errorf("read DT_NEEDED: %w", err)
	}
	return interp, needed, nil
}

// findLib looks for a library name the way the loader does: a name with a
// slash is a path; else the first file of that name in the search
// directories that is an ELF object of the binary's machine and class.
func findLib(sysroot, triplet, name string, want elf.FileHeader) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	var skipped []string
	for _, d := range libDirs(triplet) {
		dest := path.Join(d, name)
		src, err := resolveIn(sysroot, dest)
		if err != nil {
			continue
		}
		f, err := elf.Open(src)
		if err != nil {
			skipped = append(skipped, dest+" (not ELF)")
			continue
		}
		ok := f.Machine == want.Machine && f.Class == want.Class && f.Data == want.Data
		mach := f.Machine
		f.Close()
		if !ok {
			skipped = append(skipped, fmt.Sprintf("%s (%v, not %v)", dest, mach, want.Machine))
			continue
		}
		return dest, nil
	}
	msg := "not found in " + strings.Join(libDirs(triplet), ", ")
	if len(skipped) > 0 {
		msg += "; passed over " + strings.Join(skipped, ", ")
	}
	return "", errors.New(msg)
}

// resolveIn maps an absolute path on the card to the regular file it
// names inside sysroot, following symlinks (absolute ones relative to
// sysroot, as they would be on the card), at most 40 of them as the kernel
// allows.
func resolveIn(sysroot, p string) (string, error) {
	cur := path.Clean("/" + p)
	for hops := 0; hops < 40; hops++ {
		// Follow a link in any component, not only the last: Debian's
		// merged /usr makes /lib itself a link on some trees.
		parts := strings.Split(strings.TrimPrefix(cur, "/"), "/")
		done := true
		for i := range parts {
			sub := "/" + strings.Join(parts[:i+1], "/")
			fi, err := os.Lstat(filepath.Join(sysroot, filepath.FromSlash(sub)))
			if err != nil {
				return "", fmt.Errorf("%s: no such file in the packages", p)
			}
			if fi.Mode()&fs.ModeSymlink == 0 {
				continue
			}
			t, err := os.Readlink(filepath.Join(sysroot, filepath.FromSlash(sub)))
			if err != nil {
				return "", err
			}
			if !path.IsAbs(t) {
				t = path.Join(path.Dir(sub), t)
			}
			cur = path.Clean(path.Join(t, strings.Join(parts[i+1:], "/")))
			done = false
			break
		}
		if done {
			full := filepath.Join(sysroot, filepath.FromSlash(cur))
			fi, err := os.Stat(full)
			if err != nil {
				return "", err
			}
			if !fi.Mode().IsRegular() {
				return "", fmt.Errorf("%s: not a regular file", p)
			}
			return full, nil
		}
	}
	return "", fmt.Errorf("%s: too many symbolic links", p)
}

package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The tests read the host's own dynamically linked programs and libraries:
// real ELF files, with real DT_NEEDED chains, a real PT_INTERP and (on a
// merged-/usr Debian) /lib itself a symlink.

// hostBin has a library chain at least three deep on Debian (apt-get →
// libapt-pkg → libgcrypt → libgpg-error), so the recursion is exercised.
const hostBin = "/usr/bin/apt-get"

func hostTriplet(t *testing.T) string {
	t.Helper()
	tr := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "arm": "arm-linux-gnueabihf"}[runtime.GOARCH]
	if tr == "" || runtime.GOOS != "linux" {
		t.Fatalf("no multiarch triplet known for %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	return tr
}

// lddNames is what glibc's own loader loads for bin: the names ldd prints
// (the soname, or the interpreter's path), without the kernel's vDSO.
func lddNames(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("ldd %s (Debian's libc-bin): %v", bin, err)
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "linux-vdso") || strings.HasPrefix(f[0], "linux-gate") {
			continue
		}
		names = append(names, path.Base(f[0]))
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// TestElfClosureMatchesLoader: on the host's root, the closure of a real
// program holds the same libraries as ldd's (the loader's) answer, each
// found in the multiarch directory, and the interpreter once as a file and
// once as a link to it.
func TestElfClosureMatchesLoader(t *testing.T) {
	tr := hostTriplet(t)
	files, err := elfClosure("/", tr, hostBin)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	links := 0
	for _, f := range files {
		got = append(got, path.Base(f.Dest))
		if f.Link != "" {
			links++
			if path.Base(f.Link) != path.Base(f.Dest) {
				t.Errorf("%s links to %s, another name", f.Dest, f.Link)
			}
		}
		if fi, err := os.Stat(f.Src); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s: source %s is not a regular file", f.Dest, f.Src)
		}
	}
	slices.Sort(got)
	got = slices.Compact(got)
	if want := lddNames(t, hostBin); !slices.Equal(got, want) {
		t.Errorf("closure of %s:\n got %v\nwant %v (ldd)", hostBin, got, want)
	}
	if links != 1 {
		t.Errorf("%d entries are links; want 1 (the interpreter, also libc's DT_NEEDED): %+v", links, files)
	}
	for _, f := range files {
		if strings.HasPrefix(path.Base(f.Dest), "libc.so") && path.Dir(f.Dest) != "/lib/"+tr {
			t.Errorf("libc found at %s, not in /lib/%s first", f.Dest, tr)
		}
	}
}

// copyClosure builds a sysroot holding bin and its closure as the card
// would: regular files at the names the loader asks for.
func copyClosure(t *testing.T, tr, bin string) (string, []elfFile) {
	t.Helper()
	files, err := elfClosure("/", tr, bin)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, f := range append([]elfFile{{Dest: bin, Src: bin}}, files...) {
		if err := copyFile(f.Src, filepath.Join(root, f.Dest), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root, files
}

func needed(t *testing.T, p string) []string {
	t.Helper()
	f, err := elf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, n, err := dynInfo(f)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestElfClosureMissingLibraryNamesChain: a library that only another
// library needs is missing; the error names the chain from the program to
// it, each link a real DT_NEEDED of the one before.
func TestElfClosureMissingLibraryNamesChain(t *testing.T) {
	tr := hostTriplet(t)
	root, files := copyClosure(t, tr, hostBin)
	if _, err := elfClosure(root, tr, hostBin); err != nil {
		t.Fatalf("the copied closure is incomplete: %v", err)
	}
	direct := needed(t, hostBin)
	var victim elfFile
	for _, f := range files {
		n := path.Base(f.Dest)
		if f.Link == "" && !slices.Contains(direct, n) && strings.HasPrefix(n, "lib") && !strings.HasPrefix(n, "libc.so") {
			victim = f
			break
		}
	}
	if victim.Dest == "" {
		t.Fatalf("%s has no library needed only indirectly: %+v", hostBin, files)
	}
	if err := os.Remove(filepath.Join(root, victim.Dest)); err != nil {
		t.Fatal(err)
	}
	_, err := elfClosure(root, tr, hostBin)
	if err == nil {
		t.Fatalf("%s removed, and no error", victim.Dest)
	}
	msg := err.Error()
	if !strings.Contains(msg, "not found in /lib/"+tr+", /usr/lib/"+tr+", /lib, /usr/lib") {
		t.Errorf("error does not say where it looked: %v", err)
	}
	chain := strings.Split(strings.SplitN(msg, ": ", 2)[0], " → ")
	if len(chain) < 3 || chain[0] != path.Base(hostBin) || chain[len(chain)-1] != path.Base(victim.Dest) {
		t.Fatalf("chain %q: want %s → … → %s", chain, path.Base(hostBin), path.Base(victim.Dest))
	}
	for i := 0; i+1 < len(chain); i++ {
		p := hostBin
		if i > 0 {
			p = filepath.Join(root, "lib", tr, chain[i])
			if _, err := os.Stat(p); err != nil {
				p = filepath.Join(root, "usr/lib", tr, chain[i])
			}
		}
		if !slices.Contains(needed(t, p), chain[i+1]) {
			t.Errorf("chain %q: %s does not need %s", chain, chain[i], chain[i+1])
		}
	}
}

// TestElfClosureSearchOrderAndMachine: the first directory of the search
// order wins, and a library of another machine there is passed over (and
// named when nothing else is found), as glibc's loader does.
func TestElfClosureSearchOrderAndMachine(t *testing.T) {
	tr := hostTriplet(t)
	root, _ := copyClosure(t, tr, hostBin)
	libc := filepath.Join(root, "lib", tr, "libc.so.6")
	b, err := os.ReadFile(libc)
	if err != nil {
		t.Fatal(err)
	}
	usrLibc := filepath.Join(root, "usr/lib", tr, "libc.so.6")
	if err := copyFile(libc, usrLibc, 0o755); err != nil {
		t.Fatal(err)
	}
	find := func() (string, error) {
		files, err := elfClosure(root, tr, hostBin)
		for _, f := range files {
			if path.Base(f.Dest) == "libc.so.6" {
				return f.Dest, err
			}
		}
		return "", err
	}
	if got, err := find(); err != nil || got != "/lib/"+tr+"/libc.so.6" {
		t.Errorf("with libc in /lib/%[1]s and /usr/lib/%[1]s: found %q, %v; want the first", tr, got, err)
	}
	// e_machine (offset 18, little-endian) of another architecture.
	other := append([]byte(nil), b...)
	other[18], other[19] = byte(elf.EM_S390), 0
	if err := os.WriteFile(libc, other, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := find(); err != nil || got != "/usr/lib/"+tr+"/libc.so.6" {
		t.Errorf("with an S390 libc first: found %q, %v; want /usr/lib/%s/libc.so.6", got, err, tr)
	}
	if err := os.Remove(usrLibc); err != nil {
		t.Fatal(err)
	}
	if _, err := elfClosure(root, tr, hostBin); err == nil || !strings.Contains(err.Error(), "passed over /lib/"+tr+"/libc.so.6 (EM_S390") {
		t.Errorf("only an S390 libc: %v; want it named as passed over", err)
	}
}

// TestElfClosureStaticNeedsNothing: a static program (BusyBox, our own
// binary) has no interpreter and no libraries.
func TestElfClosureStaticNeedsNothing(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("busybox not in PATH (Debian's busybox-static; the image builder needs it too)")
	}
	if files, err := elfClosure("/", hostTriplet(t), bb); err != nil || len(files) != 0 {
		t.Errorf("busybox: %+v, %v; want nothing", files, err)
	}
}

// TestResolveInFollowsLinksInsideRoot: an absolute symlink is taken
// relative to the sysroot, never the host's root; a loop is an error.
func TestResolveInFollowsLinksInsideRoot(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "usr/lib/x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/lib/x/libz.so.1.3"), []byte("z"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{{"lib", "usr/lib"}, {"usr/lib/x/libz.so.1", "/usr/lib/x/libz.so.1.3"}, {"loop1", "loop2"}, {"loop2", "/loop1"}, {"hostpasswd", "/etc/passwd"}} {
		if err := os.Symlink(l[1], filepath.Join(root, l[0])); err != nil {
			t.Fatal(err)
		}
	}
	got, err := resolveIn(root, "/lib/x/libz.so.1")
	if err != nil || got != filepath.Join(root, "usr/lib/x/libz.so.1.3") {
		t.Errorf("resolveIn(/lib/x/libz.so.1) = %q, %v", got, err)
	}
	if _, err := resolveIn(root, "/loop1"); err == nil || !strings.Contains(err.Error(), "too many symbolic links") {
		t.Errorf("a loop: %v", err)
	}
	if _, err := resolveIn(root, "/hostpasswd"); err == nil {
		t.Error("/hostpasswd → /etc/passwd resolved outside the root")
	}
}

package cpio

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/speakerbox/speakerbox/internal/testenv"
)

func archive(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewWriter(&b)
	for _, err := range []error{
		w.Dir("bin", 0o755),
		w.File("/bin/tool", 0o755, []byte("#!/bin/sh\necho hi\n")),
		w.Symlink("bin/sh", "tool"),
		w.File("empty", 0o644, nil),
		w.Close(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func TestLayout(t *testing.T) {
	b := archive(t)
	if len(b)%4 != 0 {
		t.Fatalf("archive of %d bytes is not 4-aligned", len(b))
	}
	// First header: inode 2, a directory 0755, name "bin" (4 with NUL).
	want := "070701" + "00000002" + "000041ED"
	if string(b[:len(want)]) != want {
		t.Fatalf("header starts %q, want %q", b[:len(want)], want)
	}
	if !bytes.Contains(b, []byte("TRAILER!!!\x00")) {
		t.Fatal("no trailer")
	}
}

// TestExtractWithCpio checks the archive against an independent reader.
func TestExtractWithCpio(t *testing.T) {
	tool, args := "", []string(nil)
	if p, err := exec.LookPath("cpio"); err == nil {
		tool, args = p, []string{"-i", "-d", "--quiet"}
	} else if p, err := exec.LookPath("busybox"); err == nil {
		tool, args = p, []string{"cpio", "-i", "-d"}
	} else {
		tool, args = testenv.Tool(t, "busybox", "busybox-static"), []string{"cpio", "-i", "-d"}
	}
	dir := t.TempDir()
	cmd := exec.Command(tool, args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(archive(t))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", tool, err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "bin/sh"))
	if err != nil || string(got) != "#!/bin/sh\necho hi\n" {
		t.Fatalf("bin/sh via symlink: %q, %v", got, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "bin/tool")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("bin/tool: %v, %v", fi, err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "bin/sh")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("bin/sh is not a symlink: %v, %v", fi, err)
	}
}

func TestBadNames(t *testing.T) {
	w := NewWriter(&bytes.Buffer{})
	if w.File("/", 0o644, nil) == nil || w.File("a\x00b", 0o644, nil) == nil {
		t.Fatal("bad names accepted")
	}
	w.Close()
	if w.File("late", 0o644, nil) == nil {
		t.Fatal("entry after Close accepted")
	}
}

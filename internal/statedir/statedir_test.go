package statedir

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDefault(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		name string
		env  map[string]string
		uid  int
		want string
	}{
		{"systemd", map[string]string{"STATE_DIRECTORY": "/var/lib/sb:/other", "HOME": "/h"}, 0, "/var/lib/sb"},
		{"root", map[string]string{"HOME": "/root"}, 0, "/var/lib/speakerbox"},
		{"xdg", map[string]string{"XDG_STATE_HOME": "/x", "HOME": "/h"}, 1000, "/x/speakerbox"},
		{"home", map[string]string{"HOME": "/h"}, 1000, "/h/.local/state/speakerbox"},
	}
	for _, c := range cases {
		if got := Default(env(c.env), c.uid); got != c.want {
			t.Errorf("%s: Default = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestEnsureMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "state")
	if err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %v, want 0700", fi.Mode().Perm())
	}
}

func TestDeviceIDStableAndRecreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	id1, created, err := DeviceID(dir)
	if err != nil || !created || !ValidDeviceID(id1) {
		t.Fatalf("first DeviceID = %q, %v, %v", id1, created, err)
	}
	path := filepath.Join(dir, DeviceIDFile)
	fi1, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi1.Mode().Perm() != 0o600 {
		t.Fatalf("device id mode %v, want 0600", fi1.Mode().Perm())
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	id2, created, err := DeviceID(dir)
	if err != nil || created || id2 != id1 {
		t.Fatalf("second DeviceID = %q, %v, %v; want %q, false", id2, created, err, id1)
	}
	fi2, _ := os.Stat(path)
	if !fi2.ModTime().Equal(old) {
		t.Fatalf("device id file was rewritten")
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	id3, created, err := DeviceID(dir)
	if err != nil || !created || id3 == id1 {
		t.Fatalf("after delete DeviceID = %q, %v, %v; want a new id", id3, created, err)
	}
}

func TestDeviceIDCorrupt(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, DeviceIDFile), []byte("nonsense"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := DeviceID(dir); err == nil {
		t.Fatal("corrupt device id accepted")
	}
	b, _ := os.ReadFile(filepath.Join(dir, DeviceIDFile))
	if string(b) != "nonsense" {
		t.Fatal("corrupt device id file was overwritten")
	}
}

func TestWriteFileAtomicReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, s := range []string{"one", "two"} {
		if err := WriteFileAtomic(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != s {
			t.Fatalf("read %q, %v; want %q", b, err, s)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
}

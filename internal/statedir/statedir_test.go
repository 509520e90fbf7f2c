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

func TestIsTempName(t *testing.T) {
	for name, want := range map[string]bool{
		".credentials.json.tmp-123":       true,
		".credentials-users.json.tmp-0":   true,
		".device_id.tmp-4294967295":       true,
		"credentials.json.tmp-123":        false, // no leading dot: not ours
		".credentials.json.tmp-":          false,
		".credentials.json.tmp-12a":       false,
		".tmp-123":                        false,
		".credentials.json.corrupt-2026":  false,
		"credentials.json":                false,
		".credentials.json.tmp-123.saved": false,
	} {
		if got := IsTempName(name); got != want {
			t.Errorf("IsTempName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
	write := func(name string, age time.Duration) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	write(".credentials.json.tmp-111", time.Hour)          // stale: goes
	write(".credentials-users.json.tmp-222", StaleTempAge) // exactly stale: goes
	write(".device_id.tmp-333", time.Second)               // a write under way: stays
	write("credentials.json", time.Hour)                   // ours, not a temp
	write(".credentials.json.tmp-444x", time.Hour)         // not our naming
	write("notes.tmp-555", time.Hour)                      // not our naming
	if err := os.Mkdir(filepath.Join(dir, ".sub.tmp-666"), 0o700); err != nil {
		t.Fatal(err)
	}
	removed, err := RemoveStaleTemps(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 || removed[0] != ".credentials-users.json.tmp-222" || removed[1] != ".credentials.json.tmp-111" {
		t.Fatalf("removed %q", removed)
	}
	left, _ := os.ReadDir(dir)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	want := []string{".credentials.json.tmp-444x", ".device_id.tmp-333", ".sub.tmp-666", "credentials.json", "notes.tmp-555"}
	if len(names) != len(want) {
		t.Fatalf("left %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("left %q, want %q", names, want)
		}
	}
	if _, err := RemoveStaleTemps(filepath.Join(dir, "missing"), now); err == nil {
		t.Fatal("no error for a missing directory")
	}
}

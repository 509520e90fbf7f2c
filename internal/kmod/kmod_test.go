package kmod

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fakeKO makes bytes that look like a module to Depends: some binary noise
// and a modinfo section.
func fakeKO(depends string) []byte {
	return []byte("\x7fELF\x00junk depends=not-this\x00license=GPL\x00depends=" + depends + "\x00vermagic=6.1\x00")
}

func writeTree(t *testing.T, mods map[string]string, builtin string) string {
	t.Helper()
	dir := t.TempDir()
	for path, deps := range mods {
		p := filepath.Join(dir, "kernel", path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, fakeKO(deps), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte(builtin), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestDepends(t *testing.T) {
	if got := Depends(fakeKO("snd-pcm,snd,snd-timer")); !reflect.DeepEqual(got, []string{"snd-pcm", "snd", "snd-timer"}) {
		t.Fatalf("got %q", got)
	}
	if got := Depends(fakeKO("")); got != nil {
		t.Fatalf("empty depends: got %q", got)
	}
}

func TestResolveOrder(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"sound/drivers/snd-aloop.ko":  "snd-pcm,snd,snd-timer",
		"sound/core/snd-pcm.ko":       "snd-timer,snd",
		"sound/core/snd-timer.ko":     "snd",
		"sound/core/snd.ko":           "soundcore",
		"sound/soundcore.ko":          "",
		"drivers/net/virtio_net.ko":   "net_failover,virtio",
		"drivers/net/net_failover.ko": "failover",
		"net/core/failover.ko":        "",
	}, "kernel/drivers/virtio/virtio.ko\n")
	tr, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	mods, err := tr.Resolve("snd-aloop", "virtio-net")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
	}
	want := []string{"soundcore", "snd", "snd_timer", "snd_pcm", "snd_aloop", "failover", "net_failover", "virtio_net"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("order %q, want %q", names, want)
	}
}

func TestResolveMissing(t *testing.T) {
	dir := writeTree(t, map[string]string{"a.ko": "b"}, "")
	tr, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Resolve("a"); err == nil {
		t.Fatal("missing dependency b resolved")
	}
}

func TestResolveCycle(t *testing.T) {
	dir := writeTree(t, map[string]string{"a.ko": "b", "b.ko": "a"}, "")
	tr, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Resolve("a"); err == nil {
		t.Fatal("cycle resolved")
	}
}

func FuzzDepends(f *testing.F) {
	f.Add(fakeKO("a,b"))
	f.Add([]byte("depends="))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, d := range Depends(b) {
			if d == "" {
				t.Fatal("empty module name")
			}
		}
	})
}

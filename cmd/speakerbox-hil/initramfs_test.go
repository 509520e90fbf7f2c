package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/debkernel"
	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/plan"
	"github.com/speakerbox/speakerbox/internal/testenv"
)

func write(t *testing.T, p, s string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInitrdLayout(t *testing.T) {
	bb := testenv.Tool(t, "busybox", "busybox-static")
	dir := t.TempDir()
	mods := filepath.Join(dir, "lib/modules/6.1.0-test")
	write(t, filepath.Join(mods, "kernel/sound/snd.ko"), "x\x00depends=soundcore\x00")
	write(t, filepath.Join(mods, "kernel/sound/soundcore.ko"), "x\x00depends=\x00")
	write(t, filepath.Join(mods, "modules.builtin"), "")
	k := &debkernel.Kernel{Modules: mods, Busybox: write(t, filepath.Join(dir, "busybox"), "bb")}
	rd := initrd{Kernel: k, Modules: []string{"snd"}, Watchdog: 30,
		Files: map[string]string{"/media/a.ogg": write(t, filepath.Join(dir, "a.ogg"), "ogg")},
		Plan:  plan.Plan{Steps: []plan.Step{{ID: "x", Kind: plan.KindLoopSelf, Ref: "/media/a.wav"}}}}
	img := filepath.Join(dir, "initrd.cpio")
	if err := rd.build(img, write(t, filepath.Join(dir, "agent"), "agent")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bb, "cpio", "-i", "-d", "-F", img)
	cmd.Dir = out
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("busybox cpio: %v: %s", err, b)
	}
	for p, want := range map[string]string{
		"etc/hil/modules": "soundcore\nsnd\n", "bin/hilguest": "agent", "bin/busybox": "bb", "media/a.ogg": "ogg",
	} {
		b, err := os.ReadFile(filepath.Join(out, p))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	init, err := os.ReadFile(filepath.Join(out, "init"))
	if err != nil || !strings.HasPrefix(string(init), "#!/bin/busybox sh") || !strings.Contains(string(init), "sleep 30") {
		t.Errorf("init: %v\n%s", err, init)
	}
	if fi, err := os.Stat(filepath.Join(out, "init")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("init is not executable: %v", err)
	}
	pj, err := os.ReadFile(filepath.Join(out, "etc/hil/plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Decode(pj); err != nil {
		t.Errorf("plan in the image: %v", err)
	}
	for _, d := range []string{"proc", "sys", "dev", "tmp"} {
		if fi, err := os.Stat(filepath.Join(out, d)); err != nil || !fi.IsDir() {
			t.Errorf("no /%s: %v", d, err)
		}
	}
}

package main

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/speakerbox/speakerbox/internal/testenv"
)

// TestNoCgoInDependencies keeps the hard rule that the binary never needs a C
// toolchain: even with cgo enabled, no package outside the standard library
// in its dependency graph has cgo files. (The standard library falls back to
// pure Go when CGO_ENABLED=0; a third-party cgo package would not build.)
func TestNoCgoInDependencies(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-json", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	n := 0
	for {
		var p struct {
			ImportPath string
			Standard   bool
			CgoFiles   []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		if !p.Standard && len(p.CgoFiles) > 0 {
			t.Errorf("package %s uses cgo (%v)", p.ImportPath, p.CgoFiles)
		}
		for _, banned := range []string{"/session", "/player", "/events", "/output", "/vorbis", "/flac", "/daemon"} {
			if strings.HasPrefix(p.ImportPath, "github.com/devgianlu/go-librespot"+banned) {
				t.Errorf("imports go-librespot package %s, which needs cgo", p.ImportPath)
			}
		}
	}
	if n < 10 {
		t.Fatalf("go list returned only %d packages", n)
	}
}

type target struct {
	name, goarch, goarm string
	machine             elf.Machine
	qemu                string
}

var targets = []target{
	{"armv6", "arm", "6", elf.EM_ARM, "qemu-arm-static"},
	{"armv7", "arm", "7", elf.EM_ARM, "qemu-arm-static"},
	{"arm64", "arm64", "", elf.EM_AARCH64, "qemu-aarch64-static"},
	{"amd64", "amd64", "", elf.EM_X86_64, ""},
}

// TestCrossBuildsAreStatic builds the release binaries the way the Makefile
// does and checks each is a static ELF for the right machine (no program
// interpreter, no dynamic section), built for the right ARM level, and runs
// under qemu-user.
func TestCrossBuildsAreStatic(t *testing.T) {
	dir := t.TempDir()
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			bin := filepath.Join(dir, "speakerbox-linux-"+tg.name)
			cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=test-"+tg.name, "-o", bin, ".")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+tg.goarch, "GOARM="+tg.goarm)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build: %v\n%s", err, out)
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != tg.machine {
				t.Errorf("machine %v, want %v", f.Machine, tg.machine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("program header %v: binary is dynamically linked", p.Type)
				}
			}
			bi, err := buildinfo.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{}
			for _, s := range bi.Settings {
				settings[s.Key] = s.Value
			}
			if settings["CGO_ENABLED"] != "0" || settings["GOARCH"] != tg.goarch || settings["GOARM"] != tg.goarm {
				t.Errorf("build settings %v", settings)
			}
			if file, err := exec.LookPath("file"); err == nil {
				out, _ := exec.Command(file, bin).Output()
				if !strings.Contains(string(out), "statically linked") {
					t.Errorf("file(1) says: %s", out)
				}
			}

			var run *exec.Cmd
			switch {
			case tg.goarch == runtime.GOARCH:
				run = exec.Command(bin, "version")
			case tg.qemu != "":
				run = exec.Command(testenv.Tool(t, tg.qemu, "qemu-user-static"), bin, "version")
			}
			out, err := run.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %v\n%s", run.Args, err, out)
			}
			want := "linux/" + tg.goarch
			if tg.goarm != "" {
				want += "v" + tg.goarm
			}
			if !strings.Contains(string(out), "test-"+tg.name) || !strings.Contains(string(out), want) {
				t.Errorf("version output %q, want version test-%s and %s", out, tg.name, want)
			}
		})
	}
}

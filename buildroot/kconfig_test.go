package buildroot

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/speakerbox/speakerbox/internal/testenv"
)

// buildrootSymbols are Buildroot's own symbols that the tree's Config.in
// and .mk files use. Buildroot is not available to CI, so they are
// declared as stubs here; each was checked by hand to exist in Buildroot
// 2026.02.3 (README "Flash an SD card" gives the commands).
var buildrootSymbols = []string{
	"BR2_PACKAGE_HOST_GO_TARGET_ARCH_SUPPORTS", "BR2_PACKAGE_HOST_GO", "BR2_PACKAGE_CA_CERTIFICATES",
	"BR2_aarch64", "BR2_ARM_CPU_ARMV6", "BR2_ARM_CPU_ARMV7A", "BR2_x86_64",
}

// kconfigScript parses the stubbed top level with kconfiglib and prints, as
// JSON, the warnings, the symbols the tree declares and, for each config
// file given, the SPEAKERBOX symbols whose value did not stick, and the
// resulting values of the symbols named in CHECK.
const kconfigScript = `
import json, os, re, sys
import kconfiglib
top, external = sys.argv[1], sys.argv[2]
kconf = kconfiglib.Kconfig(top, warn_to_stderr=False)
out = {"warnings": list(kconf.warnings), "symbols": sorted(
    s.name for s in kconf.unique_defined_syms), "configs": {}}
for path in sys.argv[3:]:
    want = {}
    for line in open(path):
        m = re.match(r'^(BR2_\w*SPEAKERBOX\w*)=(.*)$', line.strip())
        if m:
            want[m.group(1)] = m.group(2).strip('"')
    kconf.warnings = []
    kconf.load_config(path, replace=True)
    lost = [k for k, v in want.items() if k not in kconf.syms or kconf.syms[k].str_value != v]
    check = {k: kconf.syms[k].str_value for k in os.environ.get("CHECK", "").split() if k in kconf.syms}
    out["configs"][path] = {"lost": lost, "values": check}
print(json.dumps(out))
`

type kconfigResult struct {
	Warnings []string `json:"warnings"`
	Symbols  []string `json:"symbols"`
	Configs  map[string]struct {
		Lost   []string          `json:"lost"`
		Values map[string]string `json:"values"`
	} `json:"configs"`
}

// kconfiglibPython returns a python3 that imports kconfiglib (Debian's
// python3-kconfiglib installs for /usr/bin/python3, which a pyenv shim
// earlier in PATH may hide).
func kconfiglibPython(t *testing.T) string {
	var tried []string
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import kconfiglib").Run() == nil {
			return path
		}
		tried = append(tried, path)
	}
	testenv.Missing(t, "no python3 imports kconfiglib (tried %q; install Debian package python3-kconfiglib)", tried)
	return ""
}

func runKconfig(t *testing.T, check string, configs ...string) kconfigResult {
	t.Helper()
	py := kconfiglibPython(t)
	external, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var top strings.Builder
	top.WriteString("mainmenu \"stub of Buildroot's top level\"\n")
	for _, s := range buildrootSymbols {
		// Stubs with a prompt, so a config file can set them; Go
		// supports the target unless a config file says otherwise
		// (Buildroot derives it from the architecture).
		top.WriteString("config " + s + "\n\tbool \"" + s + "\"\n")
		if s == "BR2_PACKAGE_HOST_GO_TARGET_ARCH_SUPPORTS" {
			top.WriteString("\tdefault y\n")
		}
	}
	top.WriteString("source \"$BR2_EXTERNAL_SPEAKERBOX_PATH/Config.in\"\n")
	topPath := filepath.Join(dir, "Config.in")
	if err := os.WriteFile(topPath, []byte(top.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "check.py")
	if err := os.WriteFile(script, []byte(kconfigScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{script, topPath, external}, configs...)...)
	cmd.Env = append(os.Environ(), "BR2_EXTERNAL_SPEAKERBOX_PATH="+external, "srctree=", "CONFIG_=", "CHECK="+check)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("kconfiglib: %v\n%s", err, stderr)
	}
	var r kconfigResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("kconfiglib output %q: %v", out, err)
	}
	// Only the tree's own symbols count as declared by it.
	r.Symbols = slices.DeleteFunc(r.Symbols, func(s string) bool { return slices.Contains(buildrootSymbols, s) })
	return r
}

// TestKconfig parses the external tree's Config.in with kconfiglib, checks
// that every option the .mk files read is declared (by the tree, or one of
// Buildroot's symbols above), and that each defconfig keeps every
// speakerbox option it sets.
func TestKconfig(t *testing.T) {
	defconfigs, _ := filepath.Glob("configs/*_defconfig")
	if len(defconfigs) < 5 {
		t.Fatalf("found %d defconfigs, want the five boards", len(defconfigs))
	}
	r := runKconfig(t, "BR2_PACKAGE_HOST_GO", defconfigs...)
	if len(r.Warnings) > 0 {
		t.Errorf("kconfiglib warnings:\n%s", strings.Join(r.Warnings, "\n"))
	}
	for _, want := range []string{"BR2_PACKAGE_SPEAKERBOX", "BR2_PACKAGE_SPEAKERBOX_PREBUILT", "BR2_PACKAGE_SPEAKERBOX_PREBUILT_PATH", "BR2_PACKAGE_SPEAKERBOX_GOMODCACHE"} {
		if !slices.Contains(r.Symbols, want) {
			t.Errorf("Config.in does not declare %s (declared: %q)", want, r.Symbols)
		}
	}

	// Every BR2_ symbol the .mk files read.
	mks, _ := filepath.Glob("package/*/*.mk")
	mks = append(mks, "external.mk")
	sym := regexp.MustCompile(`\bBR2_[A-Za-z0-9_]+`)
	provided := map[string]bool{"BR2_EXTERNAL_SPEAKERBOX_PATH": true} // set by Buildroot for the tree
	read := map[string]bool{}
	for _, mk := range mks {
		b, err := os.ReadFile(mk)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sym.FindAllString(string(b), -1) {
			read[s] = true
		}
	}
	var names []string
	for s := range read {
		names = append(names, s)
	}
	sort.Strings(names)
	if !slices.Contains(names, "BR2_PACKAGE_SPEAKERBOX_PREBUILT") {
		t.Errorf("the .mk files read no BR2_PACKAGE_SPEAKERBOX_PREBUILT: %q", names)
	}
	for _, s := range names {
		if !provided[s] && !slices.Contains(r.Symbols, s) && !slices.Contains(buildrootSymbols, s) {
			t.Errorf("%s is read by a .mk file but declared nowhere", s)
		}
	}

	for path, c := range r.Configs {
		if len(c.Lost) > 0 {
			t.Errorf("%s: options dropped or changed on loading: %q", path, c.Lost)
		}
		// Built from source by default, which needs Buildroot's Go.
		if c.Values["BR2_PACKAGE_HOST_GO"] != "y" {
			t.Errorf("%s: host Go not selected for a build from source: %v", path, c.Values)
		}
	}
}

// TestKconfigPrebuilt: the prebuilt binary needs no Go toolchain, and its
// options exist only with it.
func TestKconfigPrebuilt(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := "BR2_aarch64=y\nBR2_PACKAGE_SPEAKERBOX=y\n"
	pre := write("prebuilt", base+"BR2_PACKAGE_SPEAKERBOX_PREBUILT=y\nBR2_PACKAGE_SPEAKERBOX_PREBUILT_PATH=\"/srv/speakerbox\"\n")
	src := write("source", base+"BR2_PACKAGE_SPEAKERBOX_PREBUILT_PATH=\"/srv/speakerbox\"\n")
	noarch := write("noarch", "# BR2_PACKAGE_HOST_GO_TARGET_ARCH_SUPPORTS is not set\nBR2_PACKAGE_SPEAKERBOX=y\n")
	r := runKconfig(t, "BR2_PACKAGE_HOST_GO BR2_PACKAGE_SPEAKERBOX BR2_PACKAGE_SPEAKERBOX_PREBUILT_PATH BR2_PACKAGE_CA_CERTIFICATES", pre, src, noarch)
	if c := r.Configs[pre]; len(c.Lost) > 0 || c.Values["BR2_PACKAGE_HOST_GO"] != "n" || c.Values["BR2_PACKAGE_CA_CERTIFICATES"] != "y" {
		t.Errorf("prebuilt: %+v", c)
	}
	if c := r.Configs[src]; c.Values["BR2_PACKAGE_HOST_GO"] != "y" || c.Values["BR2_PACKAGE_SPEAKERBOX_PREBUILT_PATH"] != "" || !slices.Equal(c.Lost, []string{"BR2_PACKAGE_SPEAKERBOX_PREBUILT_PATH"}) {
		t.Errorf("from source: the prebuilt path must not apply: %+v", c)
	}
	if c := r.Configs[noarch]; c.Values["BR2_PACKAGE_SPEAKERBOX"] != "n" {
		t.Errorf("without Go support the package must be unavailable: %+v", c)
	}
}

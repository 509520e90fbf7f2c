package buildroot

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// buildrootGo is the Go that Buildroot's current LTS (2026.02.x) builds
// packages with (host-go 1.26.3, also in 2026.05). Its golang-package
// infrastructure runs with GOTOOLCHAIN=local, so a go.mod asking for a newer
// Go stops a source build with "go.mod requires go >= …". Checked by hand:
// GOTOOLCHAIN=go1.26.3 builds cmd/speakerbox for armv6 with CGO_ENABLED=0.
const buildrootGo = "1.26.3"

// TestGoModBuildsWithBuildrootsGo keeps the module's minimum Go at or below
// Buildroot's, so the package builds from source and not only from the
// prebuilt binary. Release binaries are still built with the newest Go
// (.ci/run); only the minimum is held down.
func TestGoModBuildsWithBuildrootsGo(t *testing.T) {
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var want string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "go" {
			want = f[1]
		}
		if strings.HasPrefix(strings.TrimSpace(line), "toolchain ") {
			t.Errorf("go.mod has a toolchain line (%s); Buildroot builds with GOTOOLCHAIN=local and ignores it", strings.TrimSpace(line))
		}
	}
	if want == "" {
		t.Fatal("go.mod has no go line")
	}
	if versionLess(buildrootGo, want) {
		t.Fatalf("go.mod asks for go %s, newer than Buildroot's Go %s: a source build in Buildroot would stop (lower it, or use the prebuilt option and say so in the README)", want, buildrootGo)
	}
}

func TestVersionLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		less bool
	}{
		{"1.26.3", "1.26.8", true},
		{"1.26.3", "1.26.0", false},
		{"1.26.3", "1.26", false},
		{"1.26.3", "1.27", true},
		{"1.26.3", "1.26.3", false},
		{"1.9", "1.10", true},
	} {
		if got := versionLess(c.a, c.b); got != c.less {
			t.Errorf("versionLess(%s, %s) = %v", c.a, c.b, got)
		}
	}
}

// versionLess compares dotted Go versions numerically ("1.26" is 1.26.0).
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < 3; i++ {
		x, y := part(pa, i), part(pb, i)
		if x != y {
			return x < y
		}
	}
	return false
}

func part(p []string, i int) int {
	if i >= len(p) {
		return 0
	}
	n, _ := strconv.Atoi(p[i])
	return n
}

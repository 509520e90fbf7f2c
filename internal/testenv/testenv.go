// Package testenv decides what a test does when the machine lacks something
// it needs (a Debian tool, root, a kernel module): skip with the reason when
// a developer runs it by hand, fail under CI, where .ci/run provides
// everything and a skip would hide a gap.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI: the CI environment variable
// is set to anything but "", "0" or "false".
func InCI() bool {
	switch os.Getenv("CI") {
	case "", "0", "false":
		return false
	}
	return true
}

// Missing stops tb because the environment lacks what the reason names:
// under CI the test fails, by hand it is skipped.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	reason := fmt.Sprintf(format, args...)
	if InCI() {
		tb.Fatalf("%s; under CI this is a failure: .ci/run must provide it", reason)
	}
	tb.Skip(reason)
}

// Tool returns the path of the command name, or calls Missing with the
// Debian package that provides it (listed in .ci/apt-packages).
func Tool(tb testing.TB, name, pkg string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, "%s not found (install Debian package %s): %v", name, pkg, err)
	}
	return p
}

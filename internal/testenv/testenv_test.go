package testenv

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder stands in for the testing.TB of a test that needs a tool: it
// records whether Missing skipped or failed it, and stops its goroutine the
// way the real Skip and Fatalf do.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls fn as a test body would be called, in its own goroutine.
func run(fn func(tb testing.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r
}

func TestMissingToolSkipsByHandFailsUnderCI(t *testing.T) {
	for _, c := range []struct {
		ci       string
		wantFail bool
	}{{"", false}, {"false", false}, {"0", false}, {"true", true}, {"1", true}} {
		t.Setenv("CI", c.ci)
		returned := false
		r := run(func(tb testing.TB) {
			Tool(tb, "speakerbox-no-such-tool", "no-such-package")
			returned = true
		})
		if returned {
			t.Errorf("CI=%q: Tool returned for a missing tool", c.ci)
		}
		if r.failed != c.wantFail || r.skipped == c.wantFail {
			t.Errorf("CI=%q: failed=%v skipped=%v, want failed=%v", c.ci, r.failed, r.skipped, c.wantFail)
		}
		if !strings.Contains(r.msg, "speakerbox-no-such-tool not found (install Debian package no-such-package)") {
			t.Errorf("CI=%q: the reason is not given: %q", c.ci, r.msg)
		}
	}
}

func TestToolFindsWhatIsThere(t *testing.T) {
	t.Setenv("CI", "true")
	var p string
	r := run(func(tb testing.TB) { p = Tool(tb, "sh", "dash") })
	if r.failed || r.skipped || !strings.HasSuffix(p, "/sh") {
		t.Errorf("Tool(sh) = %q, failed=%v skipped=%v (%s)", p, r.failed, r.skipped, r.msg)
	}
}

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/debkernel"
)

// pkgTest is one package's real-kernel Go tests run in a guest of its own.
// audio/alsasink's loopback tests need snd-aloop, which a CI host's kernel
// may lack (no modules at all): they carry the build tag realkernel, so the
// host's `go test ./...` never compiles them, and they run here instead,
// against Debian's kernel, for every target architecture.
type pkgTest struct {
	name    string
	err     error
	elapsed time.Duration
	tail    []string
}

func runPackageTests(ctx context.Context, kernels map[string]*debkernel.Kernel, sel *regexp.Regexp, work string, logf func(string, ...any)) []*pkgTest {
	script := filepath.Join("audio", "alsasink", "testdata", "qemu-loopback.sh")
	var tests []*pkgTest
	var wg sync.WaitGroup
	for _, arch := range []string{"amd64", "arm64"} {
		name := "alsasink-tests-" + arch
		if sel != nil && !sel.MatchString(name) {
			continue
		}
		pt := &pkgTest{name: name}
		tests = append(tests, pt)
		k := kernels[arch]
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			cmd := exec.CommandContext(ctx, "sh", script, arch, k.Image, k.Modules, k.Busybox)
			out, err := cmd.CombinedOutput()
			pt.elapsed = time.Since(start)
			_ = os.WriteFile(filepath.Join(work, name+".log"), out, 0o644)
			if err != nil {
				pt.err = fmt.Errorf("%s %s: %v (log %s)", script, arch, err, filepath.Join(work, name+".log"))
				pt.tail = strings.Split(tail(string(out), 20), " | ")
			}
			logf("%s done in %.1fs", name, pt.elapsed.Seconds())
		}()
	}
	wg.Wait()
	return tests
}

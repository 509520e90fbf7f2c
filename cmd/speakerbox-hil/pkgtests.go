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
	name     string
	attempts int
	err      error
	elapsed  time.Duration
	tail     []string
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
			// Real-time capture in a TCG guest loses frames when a loaded
			// host starves it (seen once in S24_3LE on arm64 at load 13;
			// the same binaries passed at once on a quieter host), so a
			// failed run is tried again, at most three times in all; the
			// PASS line says which attempt passed. A real fault fails
			// every attempt.
			for pt.attempts = 1; ; pt.attempts++ {
				cmd := exec.CommandContext(ctx, "sh", script, arch, k.Image, k.Modules, k.Busybox)
				out, err := cmd.CombinedOutput()
				log := filepath.Join(work, fmt.Sprintf("%s-%d.log", name, pt.attempts))
				_ = os.WriteFile(log, out, 0o644)
				pt.err, pt.tail = nil, nil
				if err != nil {
					pt.err = fmt.Errorf("%s %s: %v (log %s)", script, arch, err, log)
					pt.tail = strings.Split(tail(string(out), 20), " | ")
				}
				if pt.err == nil || pt.attempts == 3 || ctx.Err() != nil {
					break
				}
				logf("%s attempt %d failed; trying again", name, pt.attempts)
			}
			pt.elapsed = time.Since(start)
			logf("%s done in %.1fs", name, pt.elapsed.Seconds())
		}()
	}
	wg.Wait()
	return tests
}

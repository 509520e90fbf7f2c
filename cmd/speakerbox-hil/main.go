// Command speakerbox-hil runs the real-kernel tests (`make hil`): it boots
// Debian's own kernels under QEMU with the real speakerbox binaries in an
// initramfs and checks ALSA playback through snd-aloop, the GPIO relay on
// the kernel's PL061 and BCM2835 drivers, and the appliance boot.
//
// Each check prints one line; the run ends with "N passed, N failed" and
// exits 1 if anything failed. `go test ./...` never boots a VM: only this
// command does.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/debkernel"
	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/pl061"
	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/report"
	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/vm"
)

func main() {
	os.Exit(realMain())
}

func realMain() int {
	cache := flag.String("cache", ".cache/hil", "cache directory (kernels, package lists, the last run's logs)")
	dist := flag.String("dist", "dist", "directory of the speakerbox-linux-* binaries from `make cross`")
	jobs := flag.Int("jobs", 2, "guests booted at once")
	only := flag.String("only", "", "run only guests whose name matches this regular expression")
	maxAge := flag.Duration("lists-max-age", 24*time.Hour, "refresh the kernel package lists when older than this")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, "hil: "+f+"\n", a...) }
	start := time.Now()

	if err := ensureTools(ctx, logf); err != nil {
		fmt.Println("FAIL setup", err)
		fmt.Println("0 passed, 1 failed")
		return 1
	}
	hostBB, _ := filepathLook("busybox")
	f := &debkernel.Fetcher{Dir: *cache, MaxAge: *maxAge, Log: log, HostArch: "amd64", HostBusybox: hostBB}
	kernels := map[string]*debkernel.Kernel{}
	var kerr []string
	var kmu sync.Mutex
	var wg sync.WaitGroup
	for _, arch := range []string{"amd64", "arm64"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := f.Get(ctx, arch)
			kmu.Lock()
			defer kmu.Unlock()
			if err != nil {
				kerr = append(kerr, fmt.Sprintf("kernel %s: %v", arch, err))
				return
			}
			kernels[arch] = k
		}()
	}
	wg.Wait()
	if len(kerr) > 0 {
		for _, e := range kerr {
			fmt.Println("FAIL setup", e)
		}
		fmt.Printf("0 passed, %d failed\n", len(kerr))
		return 1
	}
	logf("kernels %s and %s ready after %.1fs", kernels["amd64"].Package, kernels["arm64"].Package, time.Since(start).Seconds())

	work := filepath.Join(*cache, "run")
	_ = os.RemoveAll(work)
	if err := os.MkdirAll(work, 0o755); err != nil {
		fmt.Println("FAIL setup", err)
		return 1
	}
	m, err := makeMedia(ctx, work)
	if err != nil {
		fmt.Println("FAIL setup test media:", err)
		fmt.Println("0 passed, 1 failed")
		return 1
	}
	// What the guests must reproduce: the host's wav sink on the same file.
	notes := map[string]string{} // host path -> why it is missing
	refS16, refS32 := filepath.Join(work, "ref-s16.wav"), filepath.Join(work, "ref-s32.wav")
	hostBin := filepath.Join(*dist, "speakerbox-linux-amd64")
	for ref, format := range map[string]string{refS16: "S16_LE", refS32: "S32_LE"} {
		if err := hostRef(ctx, hostBin, m.Ogg, ref, soundArgs(format)); err != nil {
			notes[ref] = err.Error()
		}
	}
	agents := map[string]string{"amd64": filepath.Join(work, "hilguest-amd64"), "arm64": filepath.Join(work, "hilguest-arm64")}
	for arch, out := range agents {
		if err := buildAgent(ctx, arch, out); err != nil {
			fmt.Println("FAIL setup", err)
			fmt.Println("0 passed, 1 failed")
			return 1
		}
	}
	logf("media, references and agents ready after %.1fs", time.Since(start).Seconds())

	defs := suite(*dist, m, refS16, refS32)
	var sel *regexp.Regexp
	if *only != "" {
		if sel, err = regexp.Compile(*only); err != nil {
			fmt.Println("FAIL setup -only:", err)
			return 1
		}
	}
	var runs []*vmRun
	for _, d := range defs {
		if sel != nil && !sel.MatchString(d.name) {
			continue
		}
		runs = append(runs, &vmRun{def: d, kernel: kernels[d.arch], work: filepath.Join(work, d.name)})
	}
	var cards []*cardRun
	for _, d := range cardDefs {
		if sel != nil && !sel.MatchString("card-"+d.board) {
			continue
		}
		cards = append(cards, &cardRun{def: d, work: filepath.Join(work, "card-"+d.board), img: filepath.Join(*dist, "speakerbox-"+d.board+".img")})
	}
	sem := make(chan struct{}, max(*jobs, 1))
	// The cards first: three boots each, the longest guests of the suite.
	for _, c := range cards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			t := time.Now()
			c.run(ctx, m.Ogg, logf)
			logf("card-%s: %d boots in %.1fs (QEMU %v); shell up %.1fs after power-on, getInfo %.1fs after the restart%s",
				c.def.board, len(c.boots), time.Since(t).Seconds(), c.boots, c.bannerAt.Seconds(), c.infoAfterRestart.Seconds(), errNote(c.err))
		}()
	}
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r.run(ctx, agents[r.def.arch], notes)
			logf("%s guest done in %.1fs%s", r.def.name, r.res.Elapsed.Seconds(), r.endNote())
		}()
	}
	wg.Wait()
	pkgTests := runPackageTests(ctx, kernels, sel, work, logf)

	// Inputs the host could not provide explain many failures at once:
	// say them once, first.
	seen := map[string]bool{}
	for _, r := range runs {
		for _, n := range r.missing {
			if !seen[n] {
				seen[n] = true
				fmt.Println("NOTE", n)
			}
		}
	}
	passed, failed := 0, 0
	for _, r := range runs {
		for _, id := range r.def.checks {
			pass, detail, tailLines := r.verdict(id)
			if pass {
				passed++
				fmt.Printf("PASS %s: %s\n", id, detail)
				continue
			}
			failed++
			fmt.Printf("FAIL %s: %s\n", id, detail)
			for _, l := range tailLines {
				fmt.Printf("     | %s\n", l)
			}
		}
	}
	for _, c := range cards {
		for _, k := range c.results() {
			if k.pass {
				passed++
				fmt.Printf("PASS %s: %s\n", k.id, k.detail)
				continue
			}
			failed++
			fmt.Printf("FAIL %s: %s\n", k.id, k.detail)
			for _, l := range k.tail {
				fmt.Printf("     | %s\n", l)
			}
		}
	}
	for _, pt := range pkgTests {
		if pt.err == nil {
			passed++
			fmt.Printf("PASS %s: the package's realkernel tests passed in the guest (%.1fs, attempt %d)\n", pt.name, pt.elapsed.Seconds(), pt.attempts)
			continue
		}
		failed++
		fmt.Printf("FAIL %s: %v\n", pt.name, pt.err)
		for _, l := range pt.tail {
			fmt.Printf("     | %s\n", l)
		}
	}
	logf("suite took %.1fs; logs in %s", time.Since(start).Seconds(), work)
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// vmRun is one guest's boot and everything seen of it.
type vmRun struct {
	def    *vmDef
	kernel *debkernel.Kernel
	work   string

	mu       sync.Mutex
	lines    []vm.Line
	verdicts map[string]verdict
	marks    map[string]time.Time // "id/event" -> host time of the event
	protoErr []string
	trace    []pl061.Event
	res      vm.Result
	err      error
	missing  []string // inputs the host could not provide

	// appliance boot
	hostPort int
	stopVM   context.CancelFunc
	bg       sync.WaitGroup
	app      applianceResult
}

type verdict struct {
	pass   bool
	detail string
	line   int // index in lines
}

func (r *vmRun) run(ctx context.Context, agent string, notes map[string]string) {
	r.verdicts = map[string]verdict{}
	r.marks = map[string]time.Time{}
	if err := os.MkdirAll(r.work, 0o755); err != nil {
		r.err = err
		return
	}
	files := map[string]string{}
	for g, h := range r.def.files {
		if why, ok := notes[h]; ok {
			r.missing = append(r.missing, why)
			continue
		}
		if _, err := os.Stat(h); err != nil {
			r.missing = append(r.missing, fmt.Sprintf("%s is missing (run `make cross`)", h))
			continue
		}
		files[g] = h
	}
	rd := initrd{Kernel: r.kernel, Modules: r.def.modules, Files: files, Plan: r.def.plan,
		X86: r.def.machine == vm.PC, Watchdog: int(r.def.timeout.Seconds()) - 5}
	img := filepath.Join(r.work, "initrd.cpio")
	if err := rd.build(img, agent); err != nil {
		r.err = fmt.Errorf("build initramfs: %w", err)
		return
	}
	spec := vm.Spec{Name: r.def.name, Machine: r.def.machine, Kernel: r.kernel.Image, Initrd: img,
		Timeout: r.def.timeout, SerialLog: filepath.Join(r.work, "serial.log")}
	if r.def.machine == vm.Raspi3B {
		spec.DTB = filepath.Join(r.kernel.DTBDir, "bcm2837-rpi-3-b.dtb")
	}
	if r.def.trace {
		spec.TraceFile = filepath.Join(r.work, "pl061-trace.log")
	}
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.stopVM = cancel
	if r.def.netFwd {
		p, err := freePort()
		if err != nil {
			r.err = err
			return
		}
		r.hostPort = p
		spec.HostFwd = fmt.Sprintf("tcp:127.0.0.1:%d-:%d", p, zeroconfPort)
	}
	r.res, r.err = vm.Run(vctx, spec, r.onLine)
	r.bg.Wait()
	// Logs and traces stay for reading; the image is rebuilt every run.
	_ = os.Remove(img)
	if spec.TraceFile != "" {
		if f, err := os.Open(spec.TraceFile); err == nil {
			r.trace, err = pl061.Parse(f)
			f.Close()
			if err != nil && r.err == nil {
				r.err = err
			}
		}
	}
}

func (r *vmRun) onLine(l vm.Line) {
	r.mu.Lock()
	r.lines = append(r.lines, l)
	idx := len(r.lines) - 1
	p, ok, err := report.Parse(l.Text)
	switch {
	case err != nil:
		r.protoErr = append(r.protoErr, err.Error())
	case !ok:
	case p.Kind == report.Check:
		if _, dup := r.verdicts[p.ID]; !dup || !p.Pass {
			r.verdicts[p.ID] = verdict{pass: p.Pass, detail: p.Detail, line: idx}
		}
	case p.Kind == report.Mark:
		r.marks[p.ID+"/"+p.Event] = l.T.Add(-time.Duration(p.AgoUS) * time.Microsecond)
	}
	r.mu.Unlock()
	if r.def.during != nil {
		r.def.during(r, l)
	}
}

func (r *vmRun) endNote() string {
	switch {
	case r.err != nil:
		return " (error: " + r.err.Error() + ")"
	case r.res.TimedOut:
		return " (host timeout)"
	case r.res.Stopped:
		return " (stopped by the host)"
	}
	return ""
}

// verdict gives a check's result, from the guest or from a host
// evaluation, with the console lines worth showing when it failed.
func (r *vmRun) verdict(id string) (bool, string, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The serial tail of a check: its own lines (the agent prefixes the
	// player's output with the check id) up to the verdict, or the end of
	// the console when nothing carries the id.
	tailAt := func(i, n int) []string {
		var own, all []string
		for _, l := range r.lines[:i+1] {
			all = append(all, l.Text)
			if strings.Contains(l.Text, " "+id+"| ") || strings.Contains(l.Text, " "+id+" ") {
				own = append(own, l.Text)
			}
		}
		if len(own) == 0 {
			own = all
		}
		return own[max(0, len(own)-n):]
	}
	suffix := ""
	if len(r.missing) > 0 {
		suffix = " [see NOTE above]"
	}
	if v, ok := r.verdicts[id]; ok && (!v.pass || r.def.evals[id] == nil) {
		if v.pass {
			return true, v.detail, nil
		}
		return false, v.detail + suffix, tailAt(v.line, 15)
	}
	if ev := r.def.evals[id]; ev != nil && r.err == nil {
		r.mu.Unlock()
		pass, detail := ev(r)
		r.mu.Lock()
		if pass {
			return true, detail, nil
		}
		return false, detail + suffix, tailAt(len(r.lines)-1, 15)
	}
	why := "no verdict from the guest"
	switch {
	case r.err != nil:
		why = r.err.Error()
	case r.res.TimedOut:
		why = fmt.Sprintf("no verdict: the guest hit the host timeout of %v", r.def.timeout)
	case len(r.protoErr) > 0:
		why += "; protocol errors: " + strings.Join(r.protoErr, "; ")
	}
	return false, why + suffix, tailAt(len(r.lines)-1, 15)
}

func errNote(err error) string {
	if err != nil {
		return " (error: " + err.Error() + ")"
	}
	return ""
}

func filepathLook(name string) (string, error) {
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

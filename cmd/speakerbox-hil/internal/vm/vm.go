// Package vm boots a test guest under QEMU (TCG only: KVM on these hosts
// is a paravirtual backend a stock kernel hangs on) and hands each line of
// its serial console to the caller with the host time it arrived.
package vm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Machine is a QEMU machine model with the console and kernel arguments
// that go with it.
type Machine string

// The machines the tests use.
const (
	PC      Machine = "pc"      // x86_64
	Virt    Machine = "virt"    // arm64, PL061 GPIO
	Raspi3B Machine = "raspi3b" // arm64, the Pi's BCM2837 GPIO with line names
	Raspi2B Machine = "raspi2b" // armv7, BCM2836 (SD card boots only)
	Raspi0  Machine = "raspi0"  // armv6, BCM2835 (SD card boots only)
)

// Spec describes one boot.
type Spec struct {
	Name    string
	Machine Machine
	Kernel  string
	DTB     string // raspi3b only
	Initrd  string
	Append  string // extra kernel command-line words
	Timeout time.Duration
	// TraceFile, when set on Virt, receives QEMU's pl061_set_output trace.
	TraceFile string
	// HostFwd forwards a host port to the guest with user networking,
	// e.g. "tcp:127.0.0.1:4071-:4070". The network is restricted: the
	// guest reaches nothing but what is forwarded to it.
	HostFwd string
	// SerialLog receives the whole console.
	SerialLog string
	// SD is a card image attached as the Pi's SD card (raspi machines).
	SD string
	// Cmdline, when set, is the whole kernel command line (a card's
	// cmdline.txt plus what only QEMU needs) instead of the machine's
	// console and Append; panic=-1 is added.
	Cmdline string
	// Console, when set, is the console's input (the read end of a pipe
	// the caller writes to): an *os.File, so QEMU gets it directly and
	// nothing waits for it to end.
	Console *os.File
}

// Line is one console line and when the host read it.
type Line struct {
	T    time.Time
	Text string
}

// Result is how the boot ended.
type Result struct {
	ExitCode int  // QEMU's exit status (-1 when killed)
	TimedOut bool // the host-side timeout ended it
	Stopped  bool // the caller's context ended it
	Elapsed  time.Duration
}

// Args builds QEMU's command line.
func Args(s Spec) (bin string, args []string, err error) {
	common := []string{"-accel", "tcg", "-display", "none", "-monitor", "none", "-no-reboot", "-nodefaults"}
	appendLine := "quiet panic=-1 " + s.Append
	switch s.Machine {
	case PC:
		bin = "qemu-system-x86_64"
		args = append(common, "-M", "pc", "-m", "256", "-smp", "1", "-serial", "stdio",
			"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04")
		appendLine = "console=ttyS0 " + appendLine
	case Virt:
		bin = "qemu-system-aarch64"
		args = append(common, "-M", "virt", "-cpu", "cortex-a57", "-m", "256", "-smp", "1", "-serial", "stdio")
		appendLine = "console=ttyAMA0 " + appendLine
		if s.TraceFile != "" {
			// timestamp=on makes the log backend stamp each event with the
			// host's wall clock ("pid@sec.usec:").
			args = append(args, "-msg", "timestamp=on", "-trace", "pl061_set_output", "-D", s.TraceFile)
		}
	case Raspi3B:
		bin = "qemu-system-aarch64"
		if s.DTB == "" {
			return "", nil, errors.New("raspi3b needs a device tree")
		}
		// The console is the mini UART, the second serial port: ttyAMA0
		// belongs to Bluetooth in the Pi's device tree. The machine has
		// four fixed vCPUs; one host thread keeps it from taking the
		// machine away from the other guests.
		args = append([]string{"-accel", "tcg,thread=single", "-display", "none", "-monitor", "none", "-no-reboot"},
			"-M", "raspi3b", "-m", "1G", "-dtb", s.DTB, "-serial", "null", "-serial", "stdio")
		appendLine = "console=ttyS1,115200 " + appendLine
	case Raspi2B, Raspi0:
		bin = "qemu-system-arm"
		if s.DTB == "" || s.SD == "" {
			return "", nil, fmt.Errorf("%s needs a device tree and an SD card", s.Machine)
		}
		// raspi2b takes exactly its board's memory. On one host thread
		// its kernel crawls with four vCPUs online: boot it with
		// maxcpus=1 in Cmdline (the other cores then idle in the boot
		// stub).
		mem := "1G"
		if s.Machine == Raspi0 {
			mem = "512M"
		}
		args = append([]string{"-accel", "tcg,thread=single", "-display", "none", "-monitor", "none", "-no-reboot"},
			"-M", string(s.Machine), "-m", mem, "-dtb", s.DTB, "-serial", "stdio")
		appendLine = "console=ttyAMA0,115200 " + appendLine
	default:
		return "", nil, fmt.Errorf("unknown machine %q", s.Machine)
	}
	if s.Cmdline != "" {
		appendLine = s.Cmdline + " panic=-1"
	}
	if s.SD != "" {
		args = append(args, "-drive", "if=sd,format=raw,file="+s.SD)
	}
	isPi := s.Machine == Raspi3B || s.Machine == Raspi2B || s.Machine == Raspi0
	if s.HostFwd != "" {
		if isPi {
			return "", nil, errors.New("no network on raspi3b guests")
		}
		dev := "virtio-net-pci"
		if s.Machine == Virt {
			dev = "virtio-net-device"
		}
		args = append(args, "-netdev", "user,id=n0,restrict=on,hostfwd="+s.HostFwd, "-device", dev+",netdev=n0")
	} else if !isPi {
		args = append(args, "-net", "none")
	}
	args = append(args, "-kernel", s.Kernel, "-initrd", s.Initrd, "-append", strings.TrimSpace(appendLine))
	return bin, args, nil
}

// Run boots the guest and calls onLine for each console line as it
// arrives. It returns when QEMU exits, the timeout passes, or ctx ends; in
// the last two cases QEMU is killed.
func Run(ctx context.Context, s Spec, onLine func(Line)) (Result, error) {
	bin, args, err := Args(s)
	if err != nil {
		return Result{}, err
	}
	tctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	// The guests run real-time audio on a shared machine: as root, give
	// QEMU (all its threads, so through nice(1) before exec) a modestly
	// higher priority than batch work such as compilers and test runs.
	// It uses no more CPU for that, it just gets it when it needs it.
	if os.Geteuid() == 0 {
		if nice, err := exec.LookPath("nice"); err == nil {
			args = append([]string{"-n", "-5", bin}, args...)
			bin = nice
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin = nil
	if s.Console != nil {
		cmd.Stdin = s.Console
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	var logw io.Writer = io.Discard
	if s.SerialLog != "" {
		f, err := os.Create(s.SerialLog)
		if err != nil {
			return Result{}, fmt.Errorf("create serial log: %w", err)
		}
		defer f.Close()
		logw = f
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("start %s: %w", bin, err)
	}
	// Kill the whole process group when the time is up; QEMU has no
	// children, but nothing of a guest may outlive the suite.
	stopped := make(chan struct{})
	go func() {
		select {
		case <-tctx.Done():
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		case <-stopped:
		}
	}()
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		l := Line{T: time.Now(), Text: strings.TrimRight(sc.Text(), "\r")}
		fmt.Fprintln(logw, l.Text)
		if onLine != nil {
			onLine(l)
		}
	}
	werr := cmd.Wait()
	close(stopped)
	r := Result{ExitCode: cmd.ProcessState.ExitCode(), Elapsed: time.Since(start)}
	if tctx.Err() != nil {
		if ctx.Err() != nil {
			r.Stopped = true
		} else {
			r.TimedOut = true
		}
		return r, nil
	}
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return r, fmt.Errorf("%s: %w", bin, werr)
	}
	if msg := strings.TrimSpace(stderr.String()); msg != "" && r.ExitCode != 0 && r.ExitCode != 85 && r.ExitCode != 3 {
		return r, fmt.Errorf("%s exited %d: %s", bin, r.ExitCode, msg)
	}
	return r, nil
}

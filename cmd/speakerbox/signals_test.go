package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// lateSignalChild is the child of TestSignalAfterTheShutdownChangesNothing
// (TestMain runs it): a SIGTERM shuts down, then a second one arrives after
// the shutdown finished, before the exit. A kill(2) of the process itself
// delivers the signal before it returns, so printing afterwards proves the
// process survived it.
func lateSignalChild() int {
	a := &app{log: slog.New(slog.NewTextHandler(io.Discard, nil)), guard: &exitGuard{}, restart: newRestarter(nil)}
	ctx, cancel := context.WithCancel(context.Background())
	stop := handleSignals(cancel, a)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		fmt.Println("kill:", err)
		return 1
	}
	<-ctx.Done()
	stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		fmt.Println("kill:", err)
		return 1
	}
	fmt.Println("survived the late SIGTERM")
	return 0
}

// A supervisor may send SIGTERM again while the speaker is already on its
// way out (BusyBox's init script did, in CI): after a clean shutdown that
// signal must not turn the exit into "killed by SIGTERM".
func TestSignalAfterTheShutdownChangesNothing(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(cleanEnv(), "SBTEST_LATESIGNAL=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "survived the late SIGTERM") {
		t.Fatalf("child: %v (%v)\n%s", err, cmd.ProcessState, out)
	}
}

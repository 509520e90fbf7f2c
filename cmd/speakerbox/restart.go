package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// restarter is POST /restart: the speaker stops the way SIGTERM stops it
// (amplifier off, volume and state saved, goodbye on mDNS), then the same
// process starts again in place with the same PID, arguments and
// environment, so systemd (or whoever started it) keeps watching it.
type restarter struct {
	asked   atomic.Bool
	trigger chan struct{} // cap 1: handleSignals takes it as a SIGTERM
	// notify sends to systemd (daemon.SdNotify: a no-op without
	// NOTIFY_SOCKET); monotonic reads CLOCK_MONOTONIC for MONOTONIC_USEC.
	notify    func(state string) error
	monotonic func() (time.Duration, error)
	// reexec replaces the process; nil (in-process tests) only stops.
	reexec func() error

	// handOver, when set, gives a copy of the local API's listening
	// socket, taken when the restart is asked for; the new start serves
	// on it (apiFDEnv). Meanwhile connections wait in its backlog instead
	// of being refused, so the page reconnects without an error.
	mu       sync.Mutex
	handOver func() (*os.File, error)
	socket   *os.File
}

// apiFDEnv names the inherited socket's descriptor for the new start.
// Not SPEAKERBOX_*: those are configuration keys.
const apiFDEnv = "SBX_RESTART_API_FD"

func newRestarter(reexec func() error) *restarter {
	return &restarter{
		trigger: make(chan struct{}, 1),
		notify:  func(state string) error { _, err := daemon.SdNotify(false, state); return err },
		monotonic: func() (time.Duration, error) {
			var ts unix.Timespec
			if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
				return 0, err
			}
			return time.Duration(ts.Nano()), nil
		},
		reexec: reexec,
	}
}

// request starts the restart and returns: the caller answers before the
// speaker stops. A second request while one is under way does nothing.
func (r *restarter) request(context.Context) error {
	if !r.asked.CompareAndSwap(false, true) {
		return nil
	}
	r.mu.Lock()
	if r.handOver != nil && r.reexec != nil {
		// Before the shutdown closes the listener: the copy keeps the
		// socket listening.
		if f, err := r.handOver(); err == nil {
			r.socket = f
		}
	}
	r.mu.Unlock()
	// Told first, so that systemd waits for READY=1 from the new start
	// instead of taking the stop for a crash.
	if now, err := r.monotonic(); err == nil {
		_ = r.notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", now.Microseconds()))
	}
	select {
	case r.trigger <- struct{}{}:
	default:
	}
	return nil
}

// restarting reports whether a restart was asked for (false for an app
// without a restarter).
func (r *restarter) restarting() bool { return r != nil && r.asked.Load() }

// setHandOver sets where the local API's socket comes from (api.go).
func (r *restarter) setHandOver(f func() (*os.File, error)) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handOver = f
}

// inheritedAPIListener is the local API's socket a restart handed over
// (nil if none, or if it does not listen on address any more); the
// variable is removed, so that no hook and no later start sees it.
func inheritedAPIListener(address string) net.Listener {
	v, ok := os.LookupEnv(apiFDEnv)
	if !ok {
		return nil
	}
	_ = os.Unsetenv(apiFDEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil
	}
	f := os.NewFile(uintptr(fd), "local API socket")
	defer f.Close() // FileListener keeps its own copy
	ln, err := net.FileListener(f)
	if err != nil {
		return nil
	}
	want, err := net.ResolveTCPAddr("tcp", address)
	got, ok := ln.Addr().(*net.TCPAddr)
	// An address without a host is every interface: a socket bound to
	// one address does not do.
	sameIP := want != nil && ok && (want.IP == nil && got.IP.IsUnspecified() || want.IP != nil && want.IP.Equal(got.IP))
	if err != nil || !ok || !sameIP || (want.Port != 0 && want.Port != got.Port) {
		_ = ln.Close()
		return nil
	}
	return ln
}

// triggered is the channel handleSignals watches; nil (never ready) for
// an app without a restarter.
func (r *restarter) triggered() <-chan struct{} {
	if r == nil {
		return nil
	}
	return r.trigger
}

// after runs once the command has stopped with code: a restart asked for
// and a clean stop start the process again; it returns only if that
// failed. A stop that failed keeps its code, for systemd to restart.
func (r *restarter) after(a *app, code int) int {
	if r == nil || !r.asked.Load() || code != exitOK || r.reexec == nil {
		return code
	}
	r.mu.Lock()
	socket := r.socket
	r.mu.Unlock()
	if socket != nil {
		// Left open across the exec (no close-on-exec) for the new start.
		if _, err := unix.FcntlInt(socket.Fd(), unix.F_SETFD, 0); err == nil {
			_ = os.Setenv(apiFDEnv, strconv.Itoa(int(socket.Fd())))
		}
	}
	a.log.Info("restarting in place", "pid", os.Getpid())
	err := r.reexec()
	a.log.Error("restart failed; exiting so that the service manager starts the speaker again", "err", err)
	return exitFailure
}

// reexecSelf replaces the process with a new start of the same binary.
// /proc/self/exe is the running binary even if the file was replaced or
// renamed since.
func reexecSelf() error {
	return syscall.Exec("/proc/self/exe", os.Args, os.Environ())
}

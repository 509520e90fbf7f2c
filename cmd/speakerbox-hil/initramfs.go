package main

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/debkernel"
	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/plan"
	"github.com/speakerbox/speakerbox/internal/cpio"
	"github.com/speakerbox/speakerbox/internal/kmod"
)

// initScript is the guest's PID 1: the minimum an appliance's early boot
// does (mount the kernel file systems, load modules), then the agent. The
// watchdog turns a hang into a failure with a process list instead of a
// host-side timeout with nothing to read.
func initScript(x86 bool, watchdog int) string {
	exit := "poweroff -f"
	if x86 {
		// isa-debug-exit: QEMU exits at once with status (42<<1)|1 = 85.
		exit = `printf '\052' | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null; poweroff -f`
	}
	return fmt.Sprintf(`#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp /root /var/lib /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
while read -r m; do
	[ -n "$m" ] && { insmod /lib/modules/$m.ko || echo "HIL CHECK insmod FAIL insmod $m failed"; }
done < /etc/hil/modules
( sleep %d
  echo "HIL CHECK watchdog FAIL the guest ran longer than %ds"
  ps; cat /proc/asound/card*/pcm*/sub0/status 2>/dev/null; cat /sys/kernel/debug/gpio 2>/dev/null
  echo "HIL DONE"; %s ) &
/bin/hilguest /etc/hil/plan.json
%s
`, watchdog, watchdog, exit, exit)
}

// initrd describes one guest's initramfs.
type initrd struct {
	Kernel  *debkernel.Kernel
	Modules []string          // module names; dependencies are added
	Files   map[string]string // guest path -> host file
	Plan    plan.Plan
	X86     bool
	// Watchdog is the guest-side time limit in seconds.
	Watchdog int
}

// build writes an uncompressed cpio archive: the kernel unpacks it without
// a decompressor, which under TCG saves more than the larger file costs.
func (r initrd) build(out, agent string) error {
	tree, err := kmod.Open(r.Kernel.Modules)
	if err != nil {
		return err
	}
	mods, err := tree.Resolve(r.Modules...)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := cpio.NewWriter(bw)
	dirs := map[string]bool{}
	mkdirs := func(p string) error {
		var parts []string
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			parts = append(parts, d)
		}
		for i := len(parts) - 1; i >= 0; i-- {
			if !dirs[parts[i]] {
				dirs[parts[i]] = true
				if err := w.Dir(parts[i], 0o755); err != nil {
					return err
				}
			}
		}
		return nil
	}
	add := func(guest string, perm uint32, data []byte) error {
		if err := mkdirs(guest); err != nil {
			return err
		}
		return w.File(guest, perm, data)
	}
	addHost := func(guest, host string, perm uint32) error {
		b, err := os.ReadFile(host)
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		return add(guest, perm, b)
	}
	for _, d := range []string{"/proc", "/sys", "/dev", "/tmp", "/root", "/run", "/var/lib"} {
		if err := mkdirs(d + "/x"); err != nil {
			return err
		}
	}
	if err := addHost("/bin/busybox", r.Kernel.Busybox, 0o755); err != nil {
		return err
	}
	if err := addHost("/bin/hilguest", agent, 0o755); err != nil {
		return err
	}
	var order []string
	for _, m := range mods {
		if err := addHost("/lib/modules/"+m.Name+".ko", m.Path, 0o644); err != nil {
			return err
		}
		order = append(order, m.Name)
	}
	if err := add("/etc/hil/modules", 0o644, []byte(strings.Join(order, "\n")+"\n")); err != nil {
		return err
	}
	pj, err := plan.Encode(r.Plan)
	if err != nil {
		return err
	}
	if err := add(plan.Path, 0o644, pj); err != nil {
		return err
	}
	guests := make([]string, 0, len(r.Files))
	for g := range r.Files {
		guests = append(guests, g)
	}
	sort.Strings(guests)
	for _, g := range guests {
		if err := addHost(g, r.Files[g], 0o755); err != nil {
			return err
		}
	}
	if err := add("/init", 0o755, []byte(initScript(r.X86, r.Watchdog))); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

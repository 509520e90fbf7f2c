// Command speakerbox-image builds a Speakerbox SD card image (`make image
// BOARD=pi3`) offline from Debian's Raspberry Pi packages (firmware,
// kernel, BusyBox, CA certificates, Wi-Fi firmware), the root file system
// overlay in buildroot/board/speakerbox and the static binary from
// `make cross`.
//
// The card: p1 FAT boot (firmware, kernel, initramfs, device trees,
// config.txt, cmdline.txt, the owner's speakerbox.txt), p2 root slot A (a
// read-only xz squashfs), p3 root slot B (empty, the same size, for
// updates), p4 ext4 data at the state directory. The card's size is a
// power of two.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(realMain())
}

func realMain() int {
	boardName := flag.String("board", "pi3", "the board: "+boardNames())
	out := flag.String("o", "", "the image file (default dist/speakerbox-<board>.img)")
	dist := flag.String("dist", "dist", "directory of the speakerbox-linux-* binaries from `make cross`")
	cache := flag.String("cache", ".cache/image", "cache of package lists, .deb files and unpacked packages")
	xz := flag.Bool("xz", false, "also write <image>.xz, for downloads")
	maxAge := flag.Duration("lists-max-age", 24*time.Hour, "refresh the package lists when older than this")
	flag.Parse()
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, "image: "+f+"\n", a...) }

	b, ok := boards[*boardName]
	if !ok {
		fmt.Fprintf(os.Stderr, "image: unknown board %q; the boards are %s\n", *boardName, boardNames())
		return 2
	}
	if *out == "" {
		*out = filepath.Join(*dist, "speakerbox-"+b.name+".img")
	}
	for _, t := range []struct{ bin, pkg string }{{"mksquashfs", "squashfs-tools"}, {"mkfs.vfat", "dosfstools"}, {"mcopy", "mtools"},
		{"mkfs.ext4", "e2fsprogs"}, {"xz", "xz-utils"}, {"dpkg-deb", "dpkg"}, {"apt-get", "apt"}, {"busybox", "busybox-static"}} {
		if _, err := exec.LookPath(t.bin); err != nil {
			fmt.Fprintf(os.Stderr, "image: %s is missing: apt-get install %s\n", t.bin, t.pkg)
			return 1
		}
	}
	hostBB, _ := exec.LookPath("busybox")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	repo, _ := os.Getwd()
	bl := &builder{b: b, repo: repo, dist: *dist, cache: *cache, out: *out, logf: logf, epoch: buildEpoch(),
		maxAge: *maxAge, xz: *xz, hostBB: hostBB, sizes: sizes, work: filepath.Join(*cache, "work-"+b.name)}
	start := time.Now()
	if err := os.MkdirAll(bl.work, 0o755); err != nil {
		logf("%v", err)
		return 1
	}
	if err := bl.build(ctx); err != nil {
		logf("FAILED: %v", err)
		return 1
	}
	logf("%s: %s", *out, strings.Join(bl.summary, "; "))
	logf("built in %.1fs", time.Since(start).Seconds())
	return 0
}

// buildEpoch is the build's time: SOURCE_DATE_EPOCH when set (reproducible
// builds), else the last commit's time. The card's clock never goes back
// past it (etc/init.d/S20clock).
func buildEpoch() int64 {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	if b, err := exec.Command("git", "log", "-1", "--format=%ct").Output(); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			return n
		}
	}
	return time.Now().Unix()
}

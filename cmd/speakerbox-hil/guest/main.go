// Command guest is the agent of the real-kernel tests: it runs inside the
// QEMU guest (started by /init), carries out the plan the host wrote into
// the initramfs, and reports each check on the serial console with the
// line protocol of package report. It records the loopback card's capture
// side itself (gen2brain/alsa), so the player under test and the recorder
// never share code.
//
// It is built for the guest's architecture by the harness and is useless
// on a development machine: it expects the guest's /init to have loaded
// snd-aloop and mounted /dev, /proc, /sys and debugfs.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/plan"
	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/report"
)

func main() {
	path := plan.Path
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	b, err := os.ReadFile(path)
	if err != nil {
		fail("plan", fmt.Errorf("read plan: %w", err))
		return
	}
	p, err := plan.Decode(b)
	if err != nil {
		fail("plan", err)
		return
	}
	for _, dev := range p.WaitFor {
		if err := waitFor(dev, 5*time.Second); err != nil {
			fail("devices", err)
			return
		}
	}
	a := &agent{out: os.Stdout}
	for _, s := range p.Steps {
		a.run(s)
	}
	fmt.Println(report.FormatDone())
}

func fail(id string, err error) {
	fmt.Println(report.FormatCheck(id, false, err.Error()))
	fmt.Println(report.FormatDone())
}

// waitFor polls for a device node: devtmpfs creates them after insmod has
// returned, and there is no udev to wait on.
func waitFor(p string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %v", p, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

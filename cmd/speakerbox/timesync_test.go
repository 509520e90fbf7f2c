package main

import (
	"strings"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/timesync"
)

// The command line of timesync; these never reach the clock (a run that
// did would set the host's).
func TestTimesyncCommandLine(t *testing.T) {
	out, _, code := runCmd(t, speakerbox(t, nil, "timesync", "--help"))
	if code != 0 || !strings.Contains(out, "--once") || !strings.Contains(out, "--time.servers") {
		t.Errorf("timesync --help: %d\n%s", code, out)
	}
	_, errOut, code := runCmd(t, speakerbox(t, nil, "timesync", "--time.servers", "ntp.example.org,bad host"))
	if code != exitUsage || !strings.Contains(errOut, "time.servers") || !strings.Contains(errOut, `"bad host" is not a host name or an IP address`) {
		t.Errorf("a bad server: %d %q", code, errOut)
	}
	_, errOut, code = runCmd(t, speakerbox(t, nil, "timesync", "now"))
	if code != exitUsage || !strings.Contains(errOut, "takes no arguments") {
		t.Errorf("an argument: %d %q", code, errOut)
	}
}

// The device's floor is the later of the build time and the saved time.
func TestClockFloor(t *testing.T) {
	dir := t.TempDir()
	if got, want := clockFloor(dir), binaryBuildTime(); !got.Equal(want) {
		t.Errorf("no saved time: floor %v, want the build time %v", got, want)
	}
	later := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	if err := timesync.SaveFloor(dir, later); err != nil {
		t.Fatal(err)
	}
	if got := clockFloor(dir); !got.Equal(later) {
		t.Errorf("floor %v, want the saved %v", got, later)
	}
}

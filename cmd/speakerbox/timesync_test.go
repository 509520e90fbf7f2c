package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/timesync"
	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
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

// matchWriter tells of every log line that contains match.
type matchWriter struct {
	match string
	seen  chan string
}

func (w matchWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.match) {
		select {
		case w.seen <- string(p):
		default:
		}
	}
	return len(p), nil
}

type countingDialer struct {
	receiver.Dialer
	dials chan struct{}
}

func (d countingDialer) Dial(ctx context.Context, c creds.Credentials) (receiver.Conn, error) {
	select {
	case d.dials <- struct{}{}:
	default:
	}
	return d.Dialer.Dial(ctx, c)
}

// `speakerbox run` takes its clock floor from the state directory: a
// speaker whose clock is behind the time saved at its last shutdown says
// so and does not log in (no access point dial, no HTTPS request).
func TestRunWaitsForTheSavedTime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // against a hang
	defer cancel()
	svc := spotifytest.NewService(t, spotifytest.APFakeConfig{})
	state := t.TempDir()
	store := creds.NewStore(state, slog.New(slog.DiscardHandler), time.Now)
	if err := store.Put(spotifytest.StoredCredentials()); err != nil {
		t.Fatal(err)
	}
	saved := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	if err := timesync.SaveFloor(state, saved); err != nil {
		t.Fatal(err)
	}
	w := matchWriter{match: receiver.ClockWrongMsg, seen: make(chan string, 1)}
	dials := make(chan struct{}, 1)
	access := func(string) spotifyAccess {
		return spotifyAccess{HTTP: svc.Fake.Client(), CDN: svc.Fake.Client(), Dialer: countingDialer{svc.Dialer, dials}}
	}
	runCtx, stop := context.WithCancel(ctx)
	code := make(chan int, 1)
	go func() {
		code <- realMainWith(runCtx, access, []string{"run", "--state_dir", state, "--zeroconf.interfaces", "lo",
			"--audio.output", "null"}, nil, io.Discard, w)
	}()
	select {
	case line := <-w.seen:
		want := `reason="before the last known time" last_known_time=` + saved.UTC().Format(time.RFC3339)
		if !strings.Contains(line, "level=WARN") || !strings.Contains(line, want) {
			t.Errorf("logged %q, want a warning with %s", line, want)
		}
	case <-ctx.Done():
		t.Fatal("the speaker did not say its clock is behind the saved time")
	}
	stop()
	if c := <-code; c != exitOK {
		t.Errorf("exit status %d", c)
	}
	select {
	case <-dials:
		t.Error("the speaker dialed the access point with a clock behind the saved time")
	default:
	}
	if reqs := svc.Fake.Requests(); len(reqs) != 0 {
		t.Errorf("HTTPS requests with a clock behind the saved time: %v", reqs)
	}
}

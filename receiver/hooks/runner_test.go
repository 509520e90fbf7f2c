package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const testPath = "PATH=/usr/local/bin:/usr/bin:/bin"

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newRunner(t *testing.T, cfg Config) (*Runner, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.BaseEnv == nil {
		cfg.BaseEnv = []string{testPath}
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r, logs
}

// readEnv reads an `env` dump, without what the shell itself adds.
func readEnv(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if !strings.HasPrefix(kv, "PWD=") {
			env = append(env, kv)
		}
	}
	slices.Sort(env)
	return env
}

func TestEnvironmentExact(t *testing.T) {
	dir := t.TempDir()
	r, logs := newRunner(t, Config{
		OnEvent: `env > "$OUT/$PLAYER_EVENT"`,
		// PLAYER_EVENT here must lose against the event's own.
		Env: []string{"OUT=" + dir, "API_TOKEN=s3cret=with=equals", "PLAYER_EVENT=spoofed"},
	})
	common := []string{"API_TOKEN=s3cret=with=equals", "OUT=" + dir, testPath}
	cases := []struct {
		ev   Event
		want []string
	}{
		{Session(true, "c0nn", "alice.smith"), []string{"CONNECTION_ID=c0nn", "PLAYER_EVENT=session_connected", "USER_NAME=alice.smith"}},
		{Session(false, "c0nn", "alice.smith"), []string{"CONNECTION_ID=c0nn", "PLAYER_EVENT=session_disconnected", "USER_NAME=alice.smith"}},
		{Position(Playing, "4uLU6hMCjMI75M1A2tKUQC", 1500*time.Millisecond, 3*time.Minute), []string{"DURATION_MS=180000", "PLAYER_EVENT=playing", "POSITION_MS=1500", "TRACK_ID=4uLU6hMCjMI75M1A2tKUQC"}},
		{Position(Paused, "4uLU6hMCjMI75M1A2tKUQC", 0, 0), []string{"PLAYER_EVENT=paused", "POSITION_MS=0", "TRACK_ID=4uLU6hMCjMI75M1A2tKUQC"}},
		{TrackEvent(Stopped, "4uLU6hMCjMI75M1A2tKUQC"), []string{"PLAYER_EVENT=stopped", "TRACK_ID=4uLU6hMCjMI75M1A2tKUQC"}},
		{TrackEvent(EndOfTrack, "x"), []string{"PLAYER_EVENT=end_of_track", "TRACK_ID=x"}},
		{SeekedEvent("x", 2*time.Second), []string{"PLAYER_EVENT=seeked", "POSITION_MS=2000", "TRACK_ID=x"}},
		{Volume(65535), []string{"PLAYER_EVENT=volume_changed", "VOLUME=65535"}},
		{TrackChangedEvent(Track{ID: "new", OldID: "old", Name: "Song", Duration: 2 * time.Second, Artists: []string{"A", "B"}}),
			[]string{"ARTISTS=A", "B", "DURATION_MS=2000", "IS_EXPLICIT=false", "ITEM_TYPE=Track", "NAME=Song", "OLD_TRACK_ID=old", "PLAYER_EVENT=track_changed", "TRACK_ID=new"}},
		{Flag(ShuffleChanged, true), []string{"PLAYER_EVENT=shuffle_changed", "SHUFFLE=true"}},
		{Flag(AutoPlayChanged, false), []string{"AUTO_PLAY=false", "PLAYER_EVENT=auto_play_changed"}},
		{Repeat(true, false), []string{"PLAYER_EVENT=repeat_changed", "REPEAT=true", "REPEAT_TRACK=false"}},
		{ClientChanged("id", "Phone", "Acme", "X1"), []string{"CLIENT_BRAND_NAME=Acme", "CLIENT_ID=id", "CLIENT_MODEL_NAME=X1", "CLIENT_NAME=Phone", "PLAYER_EVENT=session_client_changed"}},
		{SinkEvent(SinkRunning), []string{"PLAYER_EVENT=sink", "SINK_STATUS=running"}},
		{SinkEvent(SinkTemporarilyClosed), []string{"PLAYER_EVENT=sink", "SINK_STATUS=temporarily_closed"}},
		{Amp(true), []string{"PLAYER_EVENT=amp_on"}},
		{Amp(false), []string{"PLAYER_EVENT=amp_off"}},
	}
	for _, c := range cases {
		if err := r.Run(context.Background(), c.ev); err != nil {
			t.Fatal(err)
		}
		got := readEnv(t, filepath.Join(dir, c.ev.Name))
		want := slices.Sorted(slices.Values(append(slices.Clone(common), c.want...)))
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", c.ev.Name, got, want)
		}
	}
	// Logs shorten the user name and never show hooks.env.
	if l := logs.String(); strings.Contains(l, "alice.smith") || strings.Contains(l, "s3cret") || !strings.Contains(l, "USER_NAME=al…h") {
		t.Errorf("log leaks or lacks the redacted user name:\n%s", l)
	}
}

// gate returns a shell snippet that waits until the file exists, and a
// function that opens the gate.
func gate(t *testing.T) (string, func()) {
	path := filepath.Join(t.TempDir(), "gate")
	return fmt.Sprintf(`while [ ! -e %q ]; do sleep 0.01; done`, path), func() {
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEmitKeepsOrderUnderBurstAndNeverBlocks(t *testing.T) {
	out := filepath.Join(t.TempDir(), "order")
	wait, open := gate(t)
	r, _ := newRunner(t, Config{
		OnEvent: fmt.Sprintf(`if [ "$POSITION_MS" = 0 ]; then %s; fi; echo "$POSITION_MS" >> %q`, wait, out),
	})
	const n = 100
	// The first hook hangs until the gate opens: every Emit must still
	// return, or this loop never ends.
	for i := range n {
		r.Emit(Position(Playing, "t", time.Duration(i)*time.Millisecond, 0))
	}
	open()
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(data))
	if len(lines) != n {
		t.Fatalf("%d hooks ran, want %d", len(lines), n)
	}
	for i, l := range lines {
		if l != strconv.Itoa(i) {
			t.Fatalf("hook %d saw POSITION_MS=%s: order lost\n%v", i, l, lines)
		}
	}
}

func TestQueueOverflowDropsNewEvents(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ran")
	wait, open := gate(t)
	r, logs := newRunner(t, Config{
		OnEvent: fmt.Sprintf(`echo "$POSITION_MS" >> %q; %s`, out, wait),
		Queue:   2,
	})
	r.Emit(Position(Playing, "t", 0, 0))
	// Wait until the worker has taken the first event off the queue.
	for {
		if _, err := os.Stat(out); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := 1; i <= 5; i++ {
		r.Emit(Position(Playing, "t", time.Duration(i)*time.Millisecond, 0))
	}
	open()
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	if got := strings.Fields(string(data)); !slices.Equal(got, []string{"0", "1", "2"}) {
		t.Fatalf("ran %v, want the first event and the two that fit the queue", got)
	}
	if !strings.Contains(logs.String(), "dropped_total=3") {
		t.Fatalf("drops not logged:\n%s", logs.String())
	}
	if st := r.Stats(); st.Dropped != 3 || st.Runs["on_event"] != 3 {
		t.Fatalf("stats %+v, want 3 dropped and 3 run", st)
	}
}

func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
		return true
	}
	// Killed but not yet reaped by whoever inherited it.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := strings.Fields(string(stat))
	return len(f) > 2 && f[2] == "Z"
}

func TestTimeoutKillsHookAndItsChildren(t *testing.T) {
	dir := t.TempDir()
	child := filepath.Join(dir, "child")
	next := filepath.Join(dir, "next")
	r, logs := newRunner(t, Config{
		OnEvent: fmt.Sprintf(`if [ "$PLAYER_EVENT" = paused ]; then touch %q; exit 0; fi
sleep 300 & echo $! > %q.tmp; mv %q.tmp %q; sleep 300`, next, child, child, child),
		Timeout: 500 * time.Millisecond,
	})
	err := r.Run(context.Background(), TrackEvent(Loading, "t"))
	if err == nil || !strings.Contains(err.Error(), "killed after the 500ms timeout") {
		t.Fatalf("Run = %v, want a timeout", err)
	}
	data, rerr := os.ReadFile(child)
	if rerr != nil {
		t.Fatalf("the hook never started its child: %v", rerr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d of the killed hook still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "hook failed") {
		t.Fatalf("timeout not logged:\n%s", logs.String())
	}

	// The queue goes on after a hung hook.
	r.Emit(TrackEvent(Loading, "t"))
	r.Emit(Position(Paused, "t", 0, 0))
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(next); err != nil {
		t.Fatal("the hook after a timed-out one did not run")
	}
}

func TestFailingHookDoesNotStopTheNext(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ran")
	r, logs := newRunner(t, Config{
		OnEvent: fmt.Sprintf(`echo "$PLAYER_EVENT" >> %q; echo "out:$PLAYER_EVENT"; echo "err:$PLAYER_EVENT" >&2; [ "$PLAYER_EVENT" != stopped ] || exit 3`, out),
	})
	r.Emit(TrackEvent(Stopped, "t"))
	r.Emit(Amp(false))
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	if got := strings.Fields(string(data)); !slices.Equal(got, []string{"stopped", "amp_off"}) {
		t.Fatalf("ran %v", got)
	}
	l := logs.String()
	for _, want := range []string{"exit status 3", "line=out:stopped", "line=err:stopped", "line=out:amp_off"} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
	if err := r.Run(context.Background(), TrackEvent(Stopped, "t")); err == nil {
		t.Error("Run of a failing hook returned no error")
	}
}

func TestMissingShellIsAnErrorNotAPanic(t *testing.T) {
	r, _ := newRunner(t, Config{OnEvent: "true", Shell: "/nonexistent/sh"})
	if err := r.Run(context.Background(), Amp(true)); err == nil {
		t.Fatal("no error for a missing shell")
	}
}

func TestCommandForAmplifier(t *testing.T) {
	out := filepath.Join(t.TempDir(), "amp")
	r, _ := newRunner(t, Config{})
	if err := r.Command(context.Background(), "amp_on_command", fmt.Sprintf(`echo "$PLAYER_EVENT" > %q`, out), Amp(true)); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(out); string(data) != "amp_on\n" {
		t.Fatalf("amp command saw %q", data)
	}
	// With no on_event configured, events are a no-op.
	r.Emit(Amp(true))
	if err := r.Run(context.Background(), Amp(true)); err != nil {
		t.Fatal(err)
	}
}

func TestCloseDeadlineKillsRunningHook(t *testing.T) {
	wait, _ := gate(t)
	r, _ := newRunner(t, Config{OnEvent: wait, Timeout: time.Hour})
	r.Emit(Amp(false))
	r.Emit(Amp(false))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := r.Close(ctx); err == nil {
		t.Fatal("Close returned no error although hooks were killed")
	}
}

func TestEnvValidation(t *testing.T) {
	for _, kv := range []string{"NOEQUALS-s3cret", "1X=s3cret", "A B=s3cret", "=s3cret"} {
		_, err := New(Config{Env: []string{"OK=1", kv}})
		if err == nil {
			t.Errorf("hooks.env %q accepted", kv)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error shows the value: %v", err)
		}
		if !strings.Contains(err.Error(), "entry 2") {
			t.Errorf("error does not say which entry: %v", err)
		}
	}
}

// A hook may start something in the background that keeps its output open
// (a daemon, a chime): the run ends when the hook exits, what it printed
// is logged, and Close does not wait for the background process.
func TestBackgroundChildHoldingOutput(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	r, logs := newRunner(t, Config{OnEvent: fmt.Sprintf(`sleep 600 & echo $! > %q; echo early`, pidFile)})
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	if err := r.Run(context.Background(), Amp(true)); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "line=early") {
		t.Fatalf("output lost:\n%s", logs.String())
	}
}

// Sink events (Run) take their turn in the one queue: a Run after an Emit
// runs after it, and returns once its own hook has finished. A Run whose
// ctx ends while it waits returns and its hook never runs.
func TestRunWaitsForItsTurnInTheQueue(t *testing.T) {
	out := filepath.Join(t.TempDir(), "order")
	wait, open := gate(t)
	r, _ := newRunner(t, Config{
		OnEvent: fmt.Sprintf(`if [ "$PLAYER_EVENT" = playing ]; then %s; fi; echo "$PLAYER_EVENT$SINK_STATUS" >> %q`, wait, out),
	})
	r.Emit(Position(Playing, "t", 0, 0)) // hangs until the gate opens
	cancelled, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() { gone <- r.Run(cancelled, SinkEvent(SinkTemporarilyClosed)) }()
	ran := make(chan error, 1)
	go func() { ran <- r.Run(context.Background(), SinkEvent(SinkRunning)) }()
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled ctx: %v, want context.Canceled", err)
	}
	open()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// Both Runs were queued after the Emit; the cancelled one was skipped.
	if got := strings.Fields(string(data)); !slices.Equal(got, []string{"playing", "sinkrunning"}) {
		t.Fatalf("hooks ran %q, want playing, then sink running (and nothing for the cancelled Run)", got)
	}
}

// Flush returns once every event queued before it has run (without
// Close), or with an error when its ctx ends first.
func TestFlushWaitsForQueuedEvents(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ran")
	wait, open := gate(t)
	r, _ := newRunner(t, Config{
		OnEvent: fmt.Sprintf(`if [ "$POSITION_MS" = 0 ]; then %s; fi; echo "$POSITION_MS" >> %q`, wait, out),
	})
	for i := range 3 {
		r.Emit(Position(Playing, "t", time.Duration(i)*time.Millisecond, 0))
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Flush(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Flush with a cancelled ctx: %v", err)
	}
	open()
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	if got := strings.Fields(string(data)); !slices.Equal(got, []string{"0", "1", "2"}) {
		t.Fatalf("after Flush the hooks ran %v, want 0 1 2", got)
	}
}

package creds

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/internal/statedir"
)

// writerEnv makes the test binary a credentials writer (see TestMain): the
// child of TestKillDuringWritesLeavesWholeFiles.
const writerEnv = "SBTEST_CREDS_WRITER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(writerEnv); dir != "" {
		os.Exit(writeForever(dir))
	}
	os.Exit(m.Run())
}

// writeForever writes credentials the way a speaker under a stream of phone
// handovers and logins does, and prints a line after each write so the
// parent can pick when to kill it without sleeping.
func writeForever(dir string) int {
	s := NewStore(dir, slog.New(slog.NewTextHandler(os.Stderr, nil)), time.Now)
	big := make([]byte, 8<<10) // a large token: writes take long enough to be cut
	for i := 0; ; i++ {
		n := fmt.Sprintf("user%02d", i%(MaxVerified+4))
		c := Credentials{Username: n, AuthType: AuthStoredSpotify, AuthData: append([]byte(n), big...)}
		err := s.Put(c)
		if err == nil {
			err = s.Accepted(c, c)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(i)
	}
}

// TestKillDuringWritesLeavesWholeFiles SIGKILLs a writer again and again at
// varying points of its writes (issue 9 measured 14 temporary files left by
// 50 kills). Afterwards both files parse, nothing but our temporaries is
// left beside them, and the cleanup a start runs removes every temporary.
func TestKillDuringWritesLeavesWholeFiles(t *testing.T) {
	const kills = 20
	deadline := time.Now().Add(60 * time.Second)
	dir := t.TempDir()
	done := 0
	for ; done < kills && time.Now().Before(deadline); done++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), writerEnv+"="+dir, "GORACE=atexit_sleep_ms=0")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Let it complete 1 to 4 writes, then kill it during a later one.
		lines := bufio.NewScanner(out)
		for range 1 + done%4 {
			if !lines.Scan() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("writer %d stopped on its own: %s", done, stderr.String())
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("writer %d: %v, want killed by SIGKILL; stderr: %s", done, err, stderr.String())
		}
	}
	if done < 5 {
		t.Fatalf("only %d kills in the time allowed", done)
	}

	var temps int
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		switch name := e.Name(); {
		case name == DefaultFile || name == UsersFile:
		case statedir.IsTempName(name):
			temps++
		default:
			t.Errorf("unexpected file %s after the kills (a corrupt file moved aside?)", name)
		}
	}
	t.Logf("%d kills left %d temporary files", done, temps)

	for _, f := range []string{DefaultFile, UsersFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == DefaultFile {
			_, err = Parse(b)
		} else {
			_, err = parseUsers(b)
		}
		if err != nil {
			t.Fatalf("%s is torn: %v", f, err)
		}
	}

	// The next start, a minute on: the store loads, the cleanup runs.
	s := NewStore(dir, slog.New(slog.DiscardHandler), time.Now)
	if all, err := s.List(); err != nil || len(all) == 0 {
		t.Fatalf("List after the kills: %d entries, %v", len(all), err)
	}
	removed, err := statedir.RemoveStaleTemps(dir, time.Now().Add(statedir.StaleTempAge))
	if err != nil || len(removed) != temps {
		t.Fatalf("cleanup removed %d of %d temporary files: %v", len(removed), temps, err)
	}
	ents, _ = os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("after cleanup the directory holds %d files, want the two credentials files", len(ents))
	}
}

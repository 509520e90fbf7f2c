package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// shell drives the shell on a card's serial console (inittab's
// `console::respawn:-/bin/sh`) the way an owner with a serial cable would:
// it types a command and reads its output up to a marker line that carries
// the exit status. The marker's text is split by quotes in what is typed,
// so the echo of the command never looks like the marker.
type shell struct {
	in *os.File

	mu    sync.Mutex
	cond  *sync.Cond
	lines []string
	times []time.Time
	done  bool // QEMU has exited
	n     int  // commands sent
}

func newShell(in *os.File) *shell {
	s := &shell{in: in}
	s.cond = sync.NewCond(&s.mu)
	return s
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// add takes one console line (from vm.Run's callback).
func (s *shell) add(t time.Time, text string) {
	text = ansiRE.ReplaceAllString(text, "")
	s.mu.Lock()
	s.lines = append(s.lines, text)
	s.times = append(s.times, t)
	s.mu.Unlock()
	s.cond.Broadcast()
}

// end says the guest is gone: waits return.
func (s *shell) end() {
	s.mu.Lock()
	s.done = true
	s.mu.Unlock()
	s.cond.Broadcast()
}

// wait returns the index of the first line at or after from matching re.
func (s *shell) wait(ctx context.Context, from int, re *regexp.Regexp, d time.Duration) (int, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { s.cond.Broadcast() })
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := from; ; {
		for ; i < len(s.lines); i++ {
			if m := re.FindStringSubmatch(s.lines[i]); m != nil {
				return i, m, nil
			}
		}
		if s.done {
			return -1, nil, fmt.Errorf("the guest ended before %q", re)
		}
		if ctx.Err() != nil {
			return -1, nil, fmt.Errorf("no %q within %v", re, d)
		}
		s.cond.Wait()
	}
}

func (s *shell) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lines)
}

func (s *shell) timeOf(i int) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.times[i]
}

// since returns the lines from index i on.
func (s *shell) since(i int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines[min(i, len(s.lines)):]...)
}

// send types a line without waiting for anything.
func (s *shell) send(line string) error {
	_, err := s.in.WriteString(line + "\n")
	return err
}

// run types cmd and returns its output lines and exit status.
func (s *shell) run(ctx context.Context, cmd string, d time.Duration) ([]string, int, error) {
	s.mu.Lock()
	s.n++
	n := s.n
	from := len(s.lines)
	s.mu.Unlock()
	if err := s.send(fmt.Sprintf(`%s; echo "@@HIL""-%d-RC=$?"`, cmd, n)); err != nil {
		return nil, -1, err
	}
	i, m, err := s.wait(ctx, from, regexp.MustCompile(fmt.Sprintf(`@@HIL-%d-RC=(\d+)`, n)), d)
	if err != nil {
		return s.outLines(from, -1), -1, fmt.Errorf("%s: %w", firstWords(cmd), err)
	}
	rc, _ := strconv.Atoi(m[1])
	return s.outLines(from, i), rc, nil
}

// outLines are the lines of a command's output: not its echo, not the
// prompt.
func (s *shell) outLines(from, to int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if to < 0 {
		to = len(s.lines)
	}
	var out []string
	for _, l := range s.lines[from:to] {
		if strings.Contains(l, `@@HIL""`) {
			continue
		}
		l = strings.TrimPrefix(l, "/ # ")
		out = append(out, l)
	}
	return out
}

func firstWords(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

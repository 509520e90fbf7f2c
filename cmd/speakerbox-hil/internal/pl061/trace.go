// Package pl061 reads QEMU's pl061_set_output trace: every level change of
// the emulated PL061 GPIO controller's lines, stamped with the host's wall
// clock. It is the host-side witness of what the guest did to a relay line,
// independent of anything running in the guest.
package pl061

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"
)

// Event is one level change of one line.
type Event struct {
	T     time.Time
	Line  int
	Level int // 0 or 1
}

// A line of QEMU's "log" trace backend, e.g.
// 16433@1795448090.140451:pl061_set_output /machine/unattached/device[6] setting output 0 to 1
// (with -msg timestamp=on an ISO time may precede it).
var traceRE = regexp.MustCompile(`(?:^|\s)\d+@(\d+)\.(\d{1,9}):pl061_set_output \S+ setting output (\d+) to (\d+)`)

// Parse reads every pl061_set_output event from a trace log, in order.
// Other trace events and malformed lines are skipped; a level other than
// 0 or 1 is an error, because it would mean the format changed.
func Parse(r io.Reader) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		m := traceRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		sec, err1 := strconv.ParseInt(m[1], 10, 64)
		frac := m[2] + "000000000"[:9-len(m[2])]
		ns, err2 := strconv.ParseInt(frac, 10, 64)
		line, err3 := strconv.Atoi(m[3])
		lvl, err4 := strconv.Atoi(m[4])
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || line > 7 {
			return nil, fmt.Errorf("pl061 trace line %q: bad number", sc.Text())
		}
		if lvl != 0 && lvl != 1 {
			return nil, fmt.Errorf("pl061 trace line %q: level %d", sc.Text(), lvl)
		}
		out = append(out, Event{T: time.Unix(sec, ns), Line: line, Level: lvl})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read pl061 trace: %w", err)
	}
	return out, nil
}

// Line returns the events of one line.
func Line(evs []Event, line int) []Event {
	var out []Event
	for _, e := range evs {
		if e.Line == line {
			out = append(out, e)
		}
	}
	return out
}

// LevelAt is the level of a line at time t given its events; before the
// first event it is initial.
func LevelAt(evs []Event, t time.Time, initial int) int {
	l := initial
	for _, e := range evs {
		if e.T.After(t) {
			break
		}
		l = e.Level
	}
	return l
}

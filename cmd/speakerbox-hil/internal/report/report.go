// Package report is the line protocol between the guest agent and the host
// harness of the real-kernel tests. The guest writes these lines to its serial
// console, where they are mixed with whatever else the guest prints, so a
// line is only ours if it starts with the prefix; everything else is log.
package report

import (
	"fmt"
	"strconv"
	"strings"
)

// Prefix starts every protocol line. The guest console is opened in raw
// mode by nobody, so lines may carry a trailing "\r": Parse strips it.
const Prefix = "HIL "

// Kind says what a line reports.
type Kind string

// Line kinds.
const (
	// Check is the verdict of one check: "HIL CHECK <id> PASS|FAIL <detail>".
	Check Kind = "CHECK"
	// Mark is an event whose host arrival time matters (audio start, a
	// process being killed): "HIL MARK <id> <event> <ago-µs>". ago is how
	// long before the line was written the event happened, so the host can
	// subtract it from the arrival time.
	Mark Kind = "MARK"
	// Done ends the guest's run: "HIL DONE".
	Done Kind = "DONE"
)

// Line is one parsed protocol line.
type Line struct {
	Kind   Kind
	ID     string // check or mark id, no spaces
	Pass   bool   // Check only
	Event  string // Mark only
	AgoUS  int64  // Mark only
	Detail string // Check only: the rest of the line
}

// FormatCheck renders a check verdict. Newlines in detail would break the
// protocol, so they become " | ".
func FormatCheck(id string, pass bool, detail string) string {
	verdict := "FAIL"
	if pass {
		verdict = "PASS"
	}
	detail = strings.ReplaceAll(strings.ReplaceAll(detail, "\r", ""), "\n", " | ")
	return fmt.Sprintf("%s%s %s %s %s", Prefix, Check, id, verdict, detail)
}

// FormatMark renders an event mark.
func FormatMark(id, event string, agoUS int64) string {
	return fmt.Sprintf("%s%s %s %s %d", Prefix, Mark, id, event, agoUS)
}

// FormatDone renders the end-of-run line.
func FormatDone() string { return Prefix + string(Done) }

// Parse reads one console line. ok is false for lines that are not ours
// (kernel messages, program output); err is set for lines that carry the
// prefix but are malformed, so a broken guest is noticed rather than ignored.
func Parse(s string) (l Line, ok bool, err error) {
	s = strings.TrimRight(s, "\r\n")
	// The kernel may print on the same console: a protocol line can arrive
	// after other text on the same line only if two writers raced; we take
	// the prefix only at the start so such lines count as noise.
	if !strings.HasPrefix(s, Prefix) {
		return Line{}, false, nil
	}
	f := strings.SplitN(s[len(Prefix):], " ", 4)
	switch Kind(f[0]) {
	case Done:
		return Line{Kind: Done}, true, nil
	case Check:
		if len(f) < 3 || f[1] == "" {
			return Line{}, true, fmt.Errorf("check line %q: want %q", s, "HIL CHECK <id> PASS|FAIL <detail>")
		}
		l = Line{Kind: Check, ID: f[1]}
		switch f[2] {
		case "PASS":
			l.Pass = true
		case "FAIL":
		default:
			return Line{}, true, fmt.Errorf("check line %q: verdict %q is neither PASS nor FAIL", s, f[2])
		}
		if len(f) == 4 {
			l.Detail = f[3]
		}
		return l, true, nil
	case Mark:
		if len(f) != 4 || f[1] == "" || f[2] == "" {
			return Line{}, true, fmt.Errorf("mark line %q: want %q", s, "HIL MARK <id> <event> <ago-µs>")
		}
		ago, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil || ago < 0 {
			return Line{}, true, fmt.Errorf("mark line %q: ago %q is not a non-negative integer", s, f[3])
		}
		return Line{Kind: Mark, ID: f[1], Event: f[2], AgoUS: ago}, true, nil
	}
	return Line{}, true, fmt.Errorf("line %q: unknown kind %q", s, f[0])
}

// Package redact shortens identifying values before they reach a log.
//
// Usernames are personal data and often double as login identifiers, so the
// logs of a speaker (which owners paste into bug reports) carry only enough of
// a name to tell two users apart.
package redact

import "unicode/utf8"

// Username returns a shortened form of name for logs: the first two and the
// last character with the rest elided, e.g. "alice.smith" -> "al…h".
// Names of four characters or fewer are reduced to their first character.
func Username(name string) string {
	n := utf8.RuneCountInString(name)
	switch {
	case n == 0:
		return ""
	case n <= 4:
		r, _ := utf8.DecodeRuneInString(name)
		return string(r) + "…"
	}
	runes := []rune(name)
	return string(runes[:2]) + "…" + string(runes[n-1])
}

package redact

import (
	"strings"
	"testing"
)

func TestUsername(t *testing.T) {
	cases := map[string]string{
		"":              "",
		"bob":           "b…",
		"abcd":          "a…",
		"alice.smith":   "al…h",
		"11133344455xy": "11…y",
		"jörg-müller":   "jö…r",
	}
	for in, want := range cases {
		got := Username(in)
		if got != want {
			t.Errorf("Username(%q) = %q, want %q", in, got, want)
		}
		if len(in) > 4 && strings.Contains(got, in[2:len(in)-1]) {
			t.Errorf("Username(%q) = %q leaks the middle of the name", in, got)
		}
	}
}

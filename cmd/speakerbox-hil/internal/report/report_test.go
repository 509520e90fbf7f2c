package report

import (
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Line
	}{
		{FormatCheck("1-alsa-arm64", true, "bit-exact\n88200 frames"), Line{Kind: Check, ID: "1-alsa-arm64", Pass: true, Detail: "bit-exact | 88200 frames"}},
		{FormatCheck("x", false, ""), Line{Kind: Check, ID: "x"}},
		{FormatMark("4-relay", "audio-start", 1500) + "\r\n", Line{Kind: Mark, ID: "4-relay", Event: "audio-start", AgoUS: 1500}},
		{FormatDone() + "\r", Line{Kind: Done}},
	} {
		got, ok, err := Parse(tc.line)
		if !ok || err != nil {
			t.Fatalf("Parse(%q) = ok %v, err %v", tc.line, ok, err)
		}
		if got != tc.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.line, got, tc.want)
		}
	}
}

func TestNoise(t *testing.T) {
	for _, s := range []string{"", "[    1.2] snd-aloop loaded", "xHIL CHECK a PASS", "HIL"} {
		if _, ok, err := Parse(s); ok || err != nil {
			t.Errorf("Parse(%q) = ok %v, err %v; want not ours", s, ok, err)
		}
	}
}

func TestMalformed(t *testing.T) {
	for _, s := range []string{"HIL CHECK", "HIL CHECK a MAYBE x", "HIL MARK a b", "HIL MARK a b -1", "HIL MARK a b 1x", "HIL WHAT"} {
		_, ok, err := Parse(s)
		if !ok || err == nil {
			t.Errorf("Parse(%q) = ok %v, err %v; want a protocol error", s, ok, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(FormatCheck("id", true, "detail"))
	f.Add(FormatMark("id", "ev", 12))
	f.Add("HIL DONE\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		l, ok, err := Parse(s)
		if !ok || err != nil {
			return
		}
		if l.Kind == Check {
			again, _, err := Parse(FormatCheck(l.ID, l.Pass, l.Detail))
			if err != nil || again.ID != l.ID || again.Pass != l.Pass {
				t.Fatalf("re-parse of %q: %+v, %v", s, again, err)
			}
		}
		if strings.ContainsAny(l.ID, " ") {
			t.Fatalf("id with space from %q", s)
		}
	})
}

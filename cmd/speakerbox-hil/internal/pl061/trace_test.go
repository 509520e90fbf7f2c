package pl061

import (
	"strings"
	"testing"
	"time"
)

const sample = `16433@1795448090.140451:pl061_set_output /machine/unattached/device[6] setting output 0 to 1
16433@1795448090.140460:pl061_read offset 0x3fc value 0x0
2026-11-23T16:00:00.000000Z 16433@1795448090.5:pl061_set_output /machine/unattached/device[6] setting output 5 to 0
garbage
16433@1795448091.000001:pl061_set_output /machine/unattached/device[6] setting output 0 to 0
`

func TestParse(t *testing.T) {
	evs, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{time.Unix(1795448090, 140451000), 0, 1},
		{time.Unix(1795448090, 500000000), 5, 0},
		{time.Unix(1795448091, 1000), 0, 0},
	}
	if len(evs) != len(want) {
		t.Fatalf("got %d events: %+v", len(evs), evs)
	}
	for i := range want {
		if !evs[i].T.Equal(want[i].T) || evs[i].Line != want[i].Line || evs[i].Level != want[i].Level {
			t.Errorf("event %d = %+v, want %+v", i, evs[i], want[i])
		}
	}
	l0 := Line(evs, 0)
	if len(l0) != 2 {
		t.Fatalf("line 0: %+v", l0)
	}
	if LevelAt(l0, time.Unix(1795448090, 0), 0) != 0 || LevelAt(l0, time.Unix(1795448090, 600000000), 0) != 1 ||
		LevelAt(l0, time.Unix(1795448092, 0), 1) != 0 {
		t.Fatal("LevelAt wrong")
	}
}

func TestParseBadLevel(t *testing.T) {
	if _, err := Parse(strings.NewReader("1@1.0:pl061_set_output x setting output 1 to 2\n")); err == nil {
		t.Fatal("level 2 accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Fuzz(func(t *testing.T, s string) {
		evs, err := Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, e := range evs {
			if e.Level > 1 || e.Line < 0 || e.Line > 7 {
				t.Fatalf("bad event %+v", e)
			}
		}
	})
}

package logring

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestKeepsTheLastLinesInOrder(t *testing.T) {
	r := New(3)
	if got := r.Lines(); len(got) != 0 {
		t.Fatalf("empty ring: %q", got)
	}
	fmt.Fprint(r, "one\ntwo\n")
	fmt.Fprint(r, "thr")
	if got := strings.Join(r.Lines(), "|"); got != "one|two" {
		t.Fatalf("a line not ended yet shows: %q", got)
	}
	fmt.Fprint(r, "ee\nfour\nfive\n")
	if got := strings.Join(r.Lines(), "|"); got != "three|four|five" {
		t.Fatalf("got %q", got)
	}
}

func TestBoundsLongLinesAndBadUTF8(t *testing.T) {
	r := New(2)
	long := strings.Repeat("é", MaxLine) // 2 bytes each
	fmt.Fprint(r, long[:MaxLine+1])      // ends mid-rune, then more in another write
	fmt.Fprint(r, long+"\n\xff\xfe ok\n")
	got := r.Lines()
	if len(got[0]) > MaxLine+len("…") || !strings.HasSuffix(got[0], "…") || !strings.HasPrefix(got[0], "éé") {
		t.Errorf("long line kept as %d bytes: %q…", len(got[0]), got[0][:10])
	}
	if got[1] != "\uFFFD ok" {
		t.Errorf("bad UTF-8 kept as %q", got[1])
	}
}

func TestConcurrentWriters(t *testing.T) {
	r := New(100)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				fmt.Fprintf(r, "g%d line %d\n", g, i)
			}
		})
	}
	wg.Wait()
	got := r.Lines()
	if len(got) != 100 {
		t.Fatalf("%d lines, want 100", len(got))
	}
	for _, l := range got {
		if !strings.Contains(l, " line ") {
			t.Fatalf("torn line %q", l)
		}
	}
}

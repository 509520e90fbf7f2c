package plan

import (
	"reflect"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	p := Plan{WaitFor: []string{"/dev/snd/pcmC0D1c"}, Steps: []Step{
		{ID: "1-alsa", Kind: KindPlay, Bin: "/bin/sb", File: "/m/a.ogg", Ref: "/m/a.wav", Compare: "exact", Args: []string{"--volume", "100"}},
		{ID: "3-xrun", Kind: KindPlay, Bin: "/bin/sb", Compare: "gap", StopAfter: time.Second, StopFor: 800 * time.Millisecond},
	}}
	b, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, s := range []string{
		`{`, `{"Steps":[{"Kind":"play","Bin":"x"}]}`, `{"Steps":[{"ID":"a","Kind":"dance"}]}`,
		`{"Steps":[{"ID":"a","Kind":"play"}]}`, `{"Steps":[{"ID":"a","Kind":"play","Bin":"x","Compare":"roughly"}]}`,
	} {
		if _, err := Decode([]byte(s)); err == nil {
			t.Errorf("Decode(%s) accepted", s)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"Steps":[{"ID":"a","Kind":"loop-self","Ref":"r"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = Decode(b) })
}

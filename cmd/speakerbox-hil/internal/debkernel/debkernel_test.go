package debkernel

import "testing"

func TestParseMetaDepends(t *testing.T) {
	out := "linux-image-arm64\n  Depends: linux-image-6.1.0-56-arm64\n  Depends: <linux-image-6.1.0-56-arm64-unsigned>\n"
	got, err := ParseMetaDepends(out, "arm64")
	if err != nil || got != "linux-image-6.1.0-56-arm64" {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := ParseMetaDepends(out, "amd64"); err == nil {
		t.Fatal("an arm64 package satisfied amd64")
	}
	if _, err := ParseMetaDepends("linux-image-amd64\n", "amd64"); err == nil {
		t.Fatal("no dependency, no error")
	}
}

func TestTarMatches(t *testing.T) {
	list := "./\n./boot/\n./boot/vmlinuz-6.1.0-56-arm64\n./lib/modules/6.1.0-56-arm64/kernel/sound/core/snd.ko\n"
	for pat, want := range map[string]bool{
		"./boot/vmlinuz-*":                   true,
		"./lib/modules/*/kernel/sound/*":     true,
		"./usr/lib/linux-image-*/broadcom/x": false,
	} {
		if got := tarMatches(list, pat); got != want {
			t.Errorf("tarMatches(%q) = %v, want %v", pat, got, want)
		}
	}
}

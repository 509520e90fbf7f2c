package alsasink

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseCards(t *testing.T) {
	cards := ParseCards([]byte(procCards + "--- no soundcards ---\n 2 [sndrpihifiberry]: HifiberryDacp - snd_rpi_hifiberry_dacplus\n"))
	want := []Card{{0, "Headphones", "bcm2835 Headphones"}, {1, "Loopback", "Loopback"}, {2, "sndrpihifiberry", "snd_rpi_hifiberry_dacplus"}}
	if len(cards) != len(want) {
		t.Fatalf("got %+v", cards)
	}
	for i := range want {
		if cards[i] != want[i] {
			t.Errorf("card %d = %+v, want %+v", i, cards[i], want[i])
		}
	}
}

func TestResolveDevice(t *testing.T) {
	ok := map[string]Address{
		"hw:0,0":                 {0, 0},
		"hw:1,3":                 {1, 3},
		"hw:Loopback,1":          {1, 1},
		"hw:CARD=Loopback,DEV=1": {1, 1},
		"hw:loopback,0":          {1, 0},
		"Loopback":               {1, 0},
		"hw:Headphones":          {0, 0},
		"hw:7,0":                 {7, 0}, // not listed: the open will say so
	}
	for name, want := range ok {
		got, err := ResolveDevice(name, []byte(procCards))
		if err != nil || got != want {
			t.Errorf("ResolveDevice(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	bad := map[string]string{
		"":             "empty",
		"default":      "plugin",
		"plughw:0,0":   "plugin",
		"hw:0,0,0":     "want hw:CARD,DEV",
		"hw:,0":        "want hw:CARD,DEV",
		"hw:0,x":       "bad device number",
		"hw:0,-1":      "bad device number",
		"hw:USB,0":     `no sound card named "USB"`,
		"hw:99,0":      "out of range",
		"front:CARD=0": "plugin",
		"some card":    "want hw:CARD,DEV",
	}
	for name, msg := range bad {
		_, err := ResolveDevice(name, []byte(procCards))
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ResolveDevice(%q) err = %v, want it to mention %q", name, err, msg)
		}
	}
}

func FuzzParseCards(f *testing.F) {
	f.Add([]byte(procCards))
	f.Add([]byte("--- no soundcards ---\n"))
	f.Add([]byte(" 0 [x]: y\n 1 [ ]:\n-1 [a]: b - c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range ParseCards(data) {
			if c.Index < 0 || c.ID == "" {
				t.Fatalf("bad card %+v", c)
			}
		}
	})
}

func FuzzResolveDevice(f *testing.F) {
	for _, s := range []string{"hw:0,0", "hw:Loopback,1", "Loopback", "hw:CARD=a,DEV=3", "plughw:1", "hw:,", "hw:0,99999999999999999999"} {
		f.Add(s, []byte(procCards))
	}
	f.Fuzz(func(t *testing.T, name string, cards []byte) {
		a, err := ResolveDevice(name, cards)
		if err == nil && (a.Card < 0 || a.Card > 31 || a.Device < 0 || a.Device > 31) {
			t.Fatalf("ResolveDevice(%q) = %v out of range", name, a)
		}
	})
}

func TestOwnerPID(t *testing.T) {
	for status, want := range map[string]string{
		"state: RUNNING\nowner_pid   : 4242\n": "4242",
		"closed\n":                             "",
		"owner_pid : ../../etc\n":              "",
		"owner_pid:\n":                         "",
	} {
		if got := ownerPID(status); got != want {
			t.Errorf("ownerPID(%q) = %q, want %q", status, got, want)
		}
	}
}

const procPCM = `00-00: bcm2835 Headphones : bcm2835 Headphones : playback 8
01-00: Loopback PCM : Loopback PCM : playback 8 : capture 8
01-01: Loopback PCM : Loopback PCM : playback 8 : capture 8
02-00: USB Mic : USB Audio : capture 1
`

func TestParsePCMs(t *testing.T) {
	got := ParsePCMs([]byte(procPCM + "garbage\n99-0: x : y : playback 1\n"))
	want := []PCMDevice{{Address{0, 0}, "bcm2835 Headphones"}, {Address{1, 0}, "Loopback PCM"}, {Address{1, 1}, "Loopback PCM"}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("pcm %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func FuzzParsePCMs(f *testing.F) {
	f.Add([]byte(procPCM))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range ParsePCMs(data) {
			if p.Card < 0 || p.Card > 31 || p.Device < 0 || p.Device > 31 {
				t.Fatalf("out of range %+v", p)
			}
		}
	})
}

// The kernel's owner_pid is the thread that opened the device; the error
// must name its process (found on a real arm64 kernel, where Go opened the
// device from a thread other than the first).
func TestPCMOwnerNamesTheProcessOfAThread(t *testing.T) {
	proc := fstest.MapFS{
		"proc/asound/card1/pcm0p/sub0/status": {Data: []byte("state: RUNNING\nowner_pid   : 95\n")},
		"proc/95/status":                      {Data: []byte("Name:\tsnapclient\nTgid:\t91\nPid:\t95\n")},
		"proc/95/comm":                        {Data: []byte("snapclient\n")},
		"proc/91/comm":                        {Data: []byte("snapclient\n")},
	}
	if got, want := pcmOwner(proc, Address{Card: 1, Device: 0}), "pid 91 (snapclient)"; got != want {
		t.Errorf("pcmOwner = %q, want %q", got, want)
	}
	delete(proc, "proc/95/status") // an older kernel, or no access: the thread id is still a lead
	if got, want := pcmOwner(proc, Address{Card: 1, Device: 0}), "pid 95 (snapclient)"; got != want {
		t.Errorf("pcmOwner without status = %q, want %q", got, want)
	}
}

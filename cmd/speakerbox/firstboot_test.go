package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
	"github.com/speakerbox/speakerbox/internal/statedir"
)

type firstbootFixture struct {
	t         *testing.T
	settings  string
	state     string
	out       bytes.Buffer
	failScrub bool
}

func newFirstboot(t *testing.T, settings string) *firstbootFixture {
	f := &firstbootFixture{t: t, settings: filepath.Join(t.TempDir(), "speakerbox.txt"), state: filepath.Join(t.TempDir(), "state")}
	f.write(settings)
	return f
}

func (f *firstbootFixture) write(s string) {
	f.t.Helper()
	if err := os.WriteFile(f.settings, []byte(s), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *firstbootFixture) run() error {
	f.out.Reset()
	im := &importer{settings: f.settings, state: f.state, out: &f.out,
		now: func() time.Time { return time.Date(2026, 12, 3, 21, 0, 0, 0, time.UTC) },
		writeSettings: func(p string, d []byte, m fs.FileMode) error {
			if f.failScrub {
				return errors.New("read-only file system")
			}
			return statedir.WriteFileAtomic(p, d, m)
		}}
	return im.run()
}

func (f *firstbootFixture) read(name string) string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.state, name))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

func (f *firstbootFixture) settingsText() string {
	b, err := os.ReadFile(f.settings)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// The test vector of IEEE 802.11i-2004, annex H.4.
const ieeeVectorPSK = "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e"

func TestFirstbootImport(t *testing.T) {
	f := newFirstboot(t, "name = Kitchen\nwifi_country = gb\nwifi_ssid = IEEE\nwifi_passphrase = password\nrelay_line = GPIO17\n")
	if err := f.run(); err != nil {
		t.Fatal(err)
	}
	if got := f.read(settingsEnvFile); got != "SPEAKERBOX_GPIO_RELAY_LINE=GPIO17\nSPEAKERBOX_NAME=Kitchen\n" {
		t.Errorf("settings.env = %q", got)
	}
	wpa := f.read(wpaConfFile)
	for _, want := range []string{"country=GB\n", "\tssid=49454545\n", "\tpsk=" + ieeeVectorPSK + "\n"} {
		if !strings.Contains(wpa, want) {
			t.Errorf("wpa_supplicant.conf lacks %q:\n%s", want, wpa)
		}
	}
	for _, name := range []string{settingsEnvFile, wpaConfFile, importRecordFile} {
		fi, err := os.Stat(filepath.Join(f.state, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", name, fi.Mode(), err)
		}
	}
	// The clear passphrase is nowhere: not on the boot partition, not in
	// the state directory.
	text := f.settingsText()
	if strings.Contains(text, "password") || !strings.Contains(text, "\nwifi_passphrase =\n") || !strings.Contains(text, "# The passphrase was stored on the speaker on 2026-12-03") {
		t.Errorf("settings file after import:\n%s", text)
	}
	filepath.WalkDir(f.state, func(p string, d fs.DirEntry, err error) error {
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("password")) {
			t.Errorf("%s holds the passphrase in clear", p)
		}
		return nil
	})
	if !strings.Contains(f.out.String(), "Wi-Fi passphrase removed") {
		t.Errorf("output: %s", f.out.String())
	}

	// A second boot: nothing to do, nothing written.
	rec := f.read(importRecordFile)
	if err := f.run(); err != nil || !strings.Contains(f.out.String(), "settings unchanged since the import of 2026-12-03T21:00:00Z") {
		t.Fatalf("second run: %v, %s", err, f.out.String())
	}
	if f.read(importRecordFile) != rec {
		t.Error("the second run rewrote the record")
	}

	// The owner edits the name; the stored key stays for the same network.
	f.write(strings.Replace(f.settingsText(), "Kitchen", "Living Room", 1))
	if err := f.run(); err != nil {
		t.Fatal(err)
	}
	if got := f.read(settingsEnvFile); !strings.Contains(got, "SPEAKERBOX_NAME=Living Room\n") {
		t.Errorf("settings.env after the edit = %q", got)
	}
	if !strings.Contains(f.read(wpaConfFile), ieeeVectorPSK) || !strings.Contains(f.out.String(), "stored passphrase kept") {
		t.Errorf("the stored key was lost: %s", f.out.String())
	}

	// Another network without a passphrase is an open network.
	f.write("wifi_ssid = Cafe\n")
	if err := f.run(); err != nil {
		t.Fatal(err)
	}
	if wpa := f.read(wpaConfFile); !strings.Contains(wpa, "key_mgmt=NONE") || strings.Contains(wpa, "psk=") {
		t.Errorf("open network:\n%s", wpa)
	}
	// No network: no wpa_supplicant configuration.
	f.write("name = Wired\n")
	if err := f.run(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.state, wpaConfFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("wpa_supplicant.conf left behind: %v", err)
	}
}

// A bad file is reported with its key and line and changes nothing; fixing
// it imports it.
func TestFirstbootBadFileChangesNothing(t *testing.T) {
	f := newFirstboot(t, "name = Good\n")
	if err := f.run(); err != nil {
		t.Fatal(err)
	}
	env, rec := f.read(settingsEnvFile), f.read(importRecordFile)
	bad := "name = Bad\nwifi_ssid = Home\nwifi_passphrase = sekret-pass\n\naudio_device = plughw:1\n"
	f.write(bad)
	err := f.run()
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Source != "speakerbox.txt:5" || !strings.HasPrefix(ce.Key, "audio_device") {
		t.Fatalf("bad file: %v", err)
	}
	if f.read(settingsEnvFile) != env || f.read(importRecordFile) != rec || f.settingsText() != bad {
		t.Error("a bad settings file changed the state or the file")
	}
	if strings.Contains(err.Error(), "sekret") {
		t.Errorf("the error shows the passphrase: %v", err)
	}
	// Reported again at every boot until fixed.
	if err := f.run(); err == nil {
		t.Error("the bad file was taken on the second boot")
	}
	f.write(strings.Replace(bad, "plughw:1", "hw:1,0", 1))
	if err := f.run(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.read(settingsEnvFile), "SPEAKERBOX_NAME=Bad\n") {
		t.Error("the fixed file was not imported")
	}
}

// When the passphrase cannot be removed from the card, the import still
// counts (the speaker joins the network) and the next boot tries again.
func TestFirstbootScrubFailureRetries(t *testing.T) {
	f := newFirstboot(t, "wifi_ssid = IEEE\nwifi_passphrase = password\n")
	f.failScrub = true
	err := f.run()
	if err == nil || !strings.Contains(err.Error(), "stays there in clear") {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(f.read(wpaConfFile), ieeeVectorPSK) {
		t.Error("the network was not imported")
	}
	f.failScrub = false
	if err := f.run(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.settingsText(), "password") {
		t.Error("the retry left the passphrase")
	}
	var r importRecord
	if err := json.Unmarshal([]byte(f.read(importRecordFile)), &r); err != nil || r.PSK != ieeeVectorPSK {
		t.Errorf("record: %+v %v", r, err)
	}
}

func TestFirstbootNoFile(t *testing.T) {
	f := newFirstboot(t, "")
	os.Remove(f.settings)
	if err := f.run(); err != nil || !strings.Contains(f.out.String(), "nothing to import") {
		t.Errorf("%v %s", err, f.out.String())
	}
}

// The command line: --check validates the example file shipped on the card.
func TestFirstbootCheckExample(t *testing.T) {
	example := filepath.Join("..", "..", "buildroot", "board", "speakerbox", "boot", "speakerbox.txt")
	out, errOut, code := runCmd(t, speakerbox(t, nil, "firstboot", "--check", "--settings", example))
	if code != 0 || !strings.Contains(out, "is valid") {
		t.Errorf("firstboot --check: exit %d, %q %q", code, out, errOut)
	}
	bad := filepath.Join(t.TempDir(), "speakerbox.txt")
	os.WriteFile(bad, []byte("name = x\nrelay_line = GPIO 4\n"), 0o644)
	_, errOut, code = runCmd(t, speakerbox(t, nil, "firstboot", "--check", "--settings", bad))
	if code != exitUsage || !strings.Contains(errOut, "relay_line (gpio.relay_line)") || !strings.Contains(errOut, "speakerbox.txt:2") {
		t.Errorf("bad file: exit %d, %q", code, errOut)
	}
}

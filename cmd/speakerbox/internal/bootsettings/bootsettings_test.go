package bootsettings

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
)

func TestParse(t *testing.T) {
	in := "\ufeff# my speaker\r\n" +
		"name = Kitchen Speaker\r\n" +
		"\r\n" +
		"wifi_ssid = \"  Home Net \"\r\n" +
		"WIFI_PASSPHRASE = correct horse = battery\r\n" +
		"wifi_country = gb\r\n" +
		"relay_line = GPIO17\r\n" +
		"relay_active_low = true\r\n" +
		"audio_device =\r\n"
	s, err := Parse("speakerbox.txt", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if s.WifiSSID != "  Home Net " || s.WifiPassphrase != "correct horse = battery" || s.WifiCountry != "GB" {
		t.Errorf("wifi: %q %q %q", s.WifiSSID, s.WifiPassphrase, s.WifiCountry)
	}
	want := []string{"SPEAKERBOX_GPIO_ACTIVE_LOW=true", "SPEAKERBOX_GPIO_RELAY_LINE=GPIO17", "SPEAKERBOX_NAME=Kitchen Speaker"}
	if got := s.Env(); !slices.Equal(got, want) {
		t.Errorf("Env() = %q, want %q", got, want)
	}
	if s.Line["wifi_country"] != 6 {
		t.Errorf("line of wifi_country = %d, want 6", s.Line["wifi_country"])
	}
}

// The example file shipped on the card must be accepted as it is.
func TestExampleFile(t *testing.T) {
	p := filepath.Join("..", "..", "..", "..", "buildroot", "board", "speakerbox", "boot", FileName)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(FileName, data)
	if err != nil {
		t.Fatalf("the example settings file is refused: %v", err)
	}
	// The example offers the keys an owner edits, but leaves the name and
	// the relay to the speaker (its web page's settings), so that writing
	// the card does not override a name given on the page at every boot.
	for _, k := range []string{"name", "relay_line", "relay_active_low", "wifi_ssid", "audio_device"} {
		if s.Line[k] == 0 {
			t.Errorf("the example does not offer %s: %+v", k, s)
		}
	}
	for _, k := range []string{"name", "gpio.relay_line", "gpio.active_low"} {
		if v, set := s.Config[k]; set {
			t.Errorf("the example sets %s = %q, which would win over the web page's setting", k, v)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in                     string
		key, source, fragments string
	}{
		{"name = ok\nrelay_line = GPIO 17\n", "relay_line (gpio.relay_line)", "speakerbox.txt:2", "GPIO17"},
		{"audio_device = plughw:0\n", "audio_device (audio.device)", "speakerbox.txt:1", "alsa-lib plugin"},
		{"\n\nwifi_ssid = x\nwifi_passphrase = short\n", "wifi_passphrase", "speakerbox.txt:4", "8 to 63"},
		{"wifi_country = GBR\n", "wifi_country", "speakerbox.txt:1", "two-letter"},
		{"name = a\nname = b\n", "name", "speakerbox.txt:2", "first on line 1"},
		{"volume = 5\n", "volume", "speakerbox.txt:1", "wifi_ssid"},
		{"just words\n", "", "speakerbox.txt:1", "key = value"},
		{"wifi_passphrase = longenough\n", "wifi_passphrase", "speakerbox.txt:1", "wifi_ssid"},
		{"wifi_ssid = " + strings.Repeat("x", 33) + "\n", "wifi_ssid", "speakerbox.txt:1", "32 bytes"},
		{"name = " + strings.Repeat("x", 64) + "\n", "name (name)", "speakerbox.txt:1", "63 bytes"},
	} {
		_, err := Parse("speakerbox.txt", []byte(tc.in))
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Errorf("%q: error %v, want a *config.Error", tc.in, err)
			continue
		}
		if ce.Key != tc.key || ce.Source != tc.source || !strings.Contains(err.Error(), tc.fragments) {
			t.Errorf("%q: key %q source %q: %v; want key %q source %q and %q", tc.in, ce.Key, ce.Source, err, tc.key, tc.source, tc.fragments)
		}
	}
}

// A passphrase never reaches an error message.
func TestPassphraseNotInErrors(t *testing.T) {
	for _, in := range []string{
		"wifi_ssid = n\nwifi_passphrase = tiny\n",
		"wifi_ssid = n\nwifi_passphrase = secret-one-two\nwifi_passphrase = secret-one-two\n",
		"wifi_passphrase = secret-one-two\n",
	} {
		_, err := Parse("f", []byte(in))
		if err == nil || strings.Contains(err.Error(), "tiny") || strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestScrub(t *testing.T) {
	in := "name = x\r\nwifi_ssid = n\r\n# wifi_passphrase = old comment\r\n wifi_passphrase = sekret-pass\r\nwifi_country = DE"
	out, changed := Scrub([]byte(in), "imported")
	want := "name = x\r\nwifi_ssid = n\r\n# wifi_passphrase = old comment\r\n# imported\r\n wifi_passphrase =\r\nwifi_country = DE"
	if !changed || string(out) != want {
		t.Fatalf("Scrub:\n%q\nwant\n%q", out, want)
	}
	s, err := Parse("f", out)
	if err != nil || s.WifiPassphrase != "" || s.WifiSSID != "n" {
		t.Fatalf("scrubbed file: %+v, %v", s, err)
	}
	again, changed := Scrub(out, "imported")
	if changed || string(again) != string(out) {
		t.Errorf("second Scrub changed the file: %q", again)
	}
	// The last line without a newline.
	out, _ = Scrub([]byte("wifi_ssid = n\nwifi_passphrase = sekret-pass"), "note")
	if string(out) != "wifi_ssid = n\n# note\nwifi_passphrase =" {
		t.Errorf("no final newline: %q", out)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("name = x\nwifi_ssid = n\nwifi_passphrase = 12345678\n"))
	f.Add([]byte("\ufeffwifi_passphrase=\"a b c d e\"\r\n"))
	f.Add([]byte("relay_line = gpiochip0:17\n# c\n\n=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("f", data)
		out, _ := Scrub(data, "note")
		s2, err2 := Parse("f", out)
		// Scrub runs only on a file Parse accepted: it must stay
		// accepted, with the same settings and no passphrase.
		if err == nil && err2 != nil {
			t.Fatalf("Scrub made a valid file invalid: %v", err2)
		}
		if err == nil {
			if s2.WifiPassphrase != "" {
				t.Fatalf("passphrase %q left after Scrub", s2.WifiPassphrase)
			}
			if !slices.Equal(s.Env(), s2.Env()) || s.WifiSSID != s2.WifiSSID {
				t.Fatalf("Scrub changed other settings")
			}
		}
	})
}

// Package bootsettings reads the settings file an owner edits on the boot
// partition of a Speakerbox SD card (speakerbox.txt) from any computer:
// plain "key = value" lines for the speaker's name, the Wi-Fi network, the
// relay line and the audio device. Errors are config.Error values, naming
// the key, the value, the file and line, and what is allowed, as the
// configuration file's do.
package bootsettings

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
)

// FileName is the settings file's name on the boot partition.
const FileName = "speakerbox.txt"

// Settings is what the owner wrote. A configuration key given empty is
// left to the speaker's configuration file and defaults.
type Settings struct {
	// Config holds the values for configuration keys, by the key's
	// dotted name ("gpio.relay_line"), as written (flag syntax).
	Config map[string]string

	WifiSSID       string
	WifiPassphrase string // "" when absent or empty
	WifiCountry    string // upper case

	// Line is the line of each key given, for messages.
	Line map[string]int
}

// Env returns the configuration values as SPEAKERBOX_* environment
// entries, sorted, ready for the speaker's environment.
func (s *Settings) Env() []string {
	out := make([]string, 0, len(s.Config))
	for k, v := range s.Config {
		out = append(out, config.EnvName(k)+"="+v)
	}
	sort.Strings(out)
	return out
}

// configKeys maps the settings file's keys to configuration keys.
var configKeys = map[string]string{
	"name":             "name",
	"relay_line":       "gpio.relay_line",
	"relay_active_low": "gpio.active_low",
	"audio_device":     "audio.device",
}

const (
	keySSID       = "wifi_ssid"
	keyPassphrase = "wifi_passphrase"
	keyCountry    = "wifi_country"
)

func knownKeys() string {
	ks := []string{keySSID, keyPassphrase, keyCountry}
	for k := range configKeys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// Parse reads a settings file; file names it in errors. Lines are
// "key = value", "#" starts a comment line, blank lines are ignored, a
// UTF-8 byte order mark and CRLF line ends (Windows editors) are accepted.
// Spaces around the value are dropped; a value in double quotes keeps them
// (the quotes are removed). An empty value for a configuration key leaves
// it to the speaker's configuration. The first bad line stops it.
func Parse(file string, data []byte) (*Settings, error) {
	s := &Settings{Config: map[string]string{}, Line: map[string]int{}}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	for i, raw := range strings.Split(string(data), "\n") {
		n := i + 1
		src := fmt.Sprintf("%s:%d", file, n)
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok || k == "" {
			return nil, &config.Error{Value: line, Source: src, Problem: "not a key = value line", Allowed: "key = value, a # comment or a blank line; keys: " + knownKeys()}
		}
		v = unquote(strings.TrimSpace(v))
		shown := v
		if k == keyPassphrase {
			shown = "***"
		}
		if _, dup := s.Line[k]; dup {
			return nil, &config.Error{Key: k, Value: shown, Source: src, Problem: fmt.Sprintf("key given twice (first on line %d)", s.Line[k])}
		}
		if !utf8.ValidString(v) {
			return nil, &config.Error{Key: k, Value: "(not UTF-8)", Source: src, Problem: "not UTF-8 text", Allowed: "text saved as UTF-8"}
		}
		s.Line[k] = n
		if ck, ok := configKeys[k]; ok {
			if v == "" {
				// Empty: the speaker's configuration decides.
				continue
			}
			if err := config.CheckValue(ck, v, src); err != nil {
				if ce, ok := err.(*config.Error); ok {
					// Name the key as the owner wrote it, and the
					// configuration key it sets.
					ce.Key = k + " (" + ck + ")"
				}
				return nil, err
			}
			s.Config[ck] = v
			continue
		}
		switch k {
		case keySSID:
			if len(v) > 32 {
				return nil, &config.Error{Key: k, Value: v, Source: src, Problem: "too long", Allowed: "a network name of up to 32 bytes (empty: no Wi-Fi)"}
			}
			s.WifiSSID = v
		case keyPassphrase:
			if v != "" && !validPassphrase(v) {
				return nil, &config.Error{Key: k, Value: shown, Source: src, Problem: fmt.Sprintf("not a WPA passphrase (%d characters)", len(v)),
					Allowed: "8 to 63 printable ASCII characters, or 64 hex digits; empty keeps the passphrase the speaker stored"}
			}
			s.WifiPassphrase = v
		case keyCountry:
			c := strings.ToUpper(v)
			if c != "" && (len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z') {
				return nil, &config.Error{Key: k, Value: v, Source: src, Problem: "not a country code", Allowed: "a two-letter ISO 3166 country code such as GB, US or DE"}
			}
			s.WifiCountry = c
		default:
			return nil, &config.Error{Key: k, Value: shown, Source: src, Problem: "unknown key", Allowed: knownKeys()}
		}
	}
	if s.WifiPassphrase != "" && s.WifiSSID == "" {
		return nil, &config.Error{Key: keyPassphrase, Value: "***", Source: fmt.Sprintf("%s:%d", file, s.Line[keyPassphrase]),
			Problem: "a passphrase without a network", Allowed: "set wifi_ssid too"}
	}
	return s, nil
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// validPassphrase: IEEE 802.11i allows 8 to 63 printable ASCII characters,
// or the 256-bit key itself as 64 hex digits.
func validPassphrase(p string) bool {
	if len(p) == 64 {
		_, err := hex.DecodeString(p)
		return err == nil
	}
	if len(p) < 8 || len(p) > 63 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] > 0x7e {
			return false
		}
	}
	return true
}

// Scrub returns data with the value of every wifi_passphrase line removed
// and note, as a comment line, put before it; changed is false when there
// was no passphrase to remove. Everything else, line ends included, is kept
// as the owner wrote it.
func Scrub(data []byte, note string) (out []byte, changed bool) {
	lines := strings.SplitAfter(string(data), "\n")
	var b strings.Builder
	for i, l := range lines {
		body := strings.TrimRight(l, "\r\n")
		end := l[len(body):]
		k, v, ok := strings.Cut(body, "=")
		key := strings.ToLower(strings.TrimSpace(k))
		if i == 0 {
			key = strings.TrimPrefix(key, "\ufeff")
		}
		if !ok || key != keyPassphrase || strings.TrimSpace(v) == "" || strings.HasPrefix(strings.TrimSpace(k), "#") {
			b.WriteString(l)
			continue
		}
		nl := end
		if nl == "" {
			nl = "\n"
			if strings.Contains(string(data), "\r\n") {
				nl = "\r\n"
			}
		}
		b.WriteString("# " + note + nl)
		b.WriteString(k + "=" + end)
		changed = true
	}
	return []byte(b.String()), changed
}

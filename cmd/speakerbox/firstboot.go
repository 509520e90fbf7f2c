package main

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/bootsettings"
	"github.com/speakerbox/speakerbox/internal/statedir"
)

// Files firstboot writes in the state directory (the data partition).
const (
	// settingsEnvFile holds SPEAKERBOX_*=value lines; the init script
	// exports them (reading, never sourcing) before `speakerbox run`.
	settingsEnvFile = "settings.env"
	// wpaConfFile is wpa_supplicant's configuration.
	wpaConfFile = "wpa_supplicant.conf"
	// importRecordFile remembers what was imported (secret: it holds the
	// WPA key).
	importRecordFile = "settings-import.json"
)

// importRecord is what the last import took from the settings file.
type importRecord struct {
	// SHA256 is the settings file's digest as the import left it
	// (passphrase removed): an unchanged file is not imported again.
	SHA256   string    `json:"sha256"`
	Imported time.Time `json:"imported"`
	SSID     string    `json:"wifi_ssid,omitempty"`
	// PSK is the 256-bit WPA key derived from the passphrase, in hex: the
	// passphrase itself is kept nowhere.
	PSK     string `json:"wifi_psk,omitempty"`
	Country string `json:"wifi_country,omitempty"`
}

func firstbootCommand() *command {
	return &command{
		name:    "firstboot",
		summary: "import the boot partition's settings file (speakerbox.txt) into the state directory; the init script runs it at every boot",
		setup: func(fs *flag.FlagSet) runFunc {
			settings := fs.String("settings", "/boot/"+bootsettings.FileName, "the settings file")
			check := fs.Bool("check", false, "only validate the settings file; change nothing")
			return func(ctx context.Context, a *app, args []string) error {
				if len(args) > 0 {
					return usagef("firstboot takes no arguments, got %q", args)
				}
				if *check {
					data, err := os.ReadFile(*settings)
					if err != nil {
						return err
					}
					if _, err := bootsettings.Parse(*settings, data); err != nil {
						return err
					}
					fmt.Fprintf(a.stdout, "OK: %s is valid\n", *settings)
					return nil
				}
				im := &importer{settings: *settings, state: a.cfg.StateDir, now: time.Now, out: a.stdout, writeSettings: statedir.WriteFileAtomic}
				return im.run()
			}
		},
	}
}

// importer brings the owner's settings file into the state directory.
type importer struct {
	settings string // path of speakerbox.txt
	state    string // state directory
	now      func() time.Time
	out      io.Writer
	// writeSettings rewrites the settings file without its passphrase
	// (statedir.WriteFileAtomic; a test makes it fail).
	writeSettings func(path string, data []byte, perm fs.FileMode) error
}

// run imports the settings file if it changed since the last import. A bad
// file changes nothing (the speaker keeps the last good settings, or its
// defaults) and the error names the key and the line. Order matters for a
// power cut: the state files first, then the record, then the settings
// file's passphrase is removed; a cut anywhere leads to a complete
// re-import at the next boot.
func (im *importer) run() error {
	data, err := os.ReadFile(im.settings)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(im.out, "no settings file %s: nothing to import\n", im.settings)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read settings file: %w", err)
	}
	if err := statedir.Ensure(im.state); err != nil {
		return err
	}
	prev, err := im.readRecord()
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if prev.SHA256 == hex.EncodeToString(sum[:]) {
		fmt.Fprintf(im.out, "settings unchanged since the import of %s\n", prev.Imported.UTC().Format(time.RFC3339))
		return nil
	}
	s, err := bootsettings.Parse(filepath.Base(im.settings), data)
	if err != nil {
		return fmt.Errorf("%s not imported (the speaker keeps its previous settings): %w", im.settings, err)
	}

	now := im.now()
	rec := importRecord{Imported: now, SSID: s.WifiSSID, Country: s.WifiCountry}
	wifiNote := ""
	switch {
	case s.WifiSSID == "":
	case s.WifiPassphrase != "":
		rec.PSK, err = wpaPSK(s.WifiPassphrase, s.WifiSSID)
		if err != nil {
			return err
		}
		wifiNote = "new passphrase"
	case prev.SSID == s.WifiSSID && prev.PSK != "":
		rec.PSK = prev.PSK
		wifiNote = "stored passphrase kept"
	default:
		wifiNote = "no passphrase: an open network"
	}

	env := strings.Join(s.Env(), "\n")
	if env != "" {
		env += "\n"
	}
	if err := statedir.WriteFileAtomic(filepath.Join(im.state, settingsEnvFile), []byte(env), 0o600); err != nil {
		return err
	}
	wpaPath := filepath.Join(im.state, wpaConfFile)
	if rec.SSID != "" {
		if err := statedir.WriteFileAtomic(wpaPath, wpaConf(rec, im.settings), 0o600); err != nil {
			return err
		}
	} else if err := os.Remove(wpaPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", wpaPath, err)
	}

	scrubbed, changed := bootsettings.Scrub(data, "The passphrase was stored on the speaker on "+now.UTC().Format("2006-01-02")+"; write a new one here to change it.")
	sum = sha256.Sum256(scrubbed)
	rec.SHA256 = hex.EncodeToString(sum[:])
	if err := im.writeRecord(rec); err != nil {
		return err
	}
	keys := make([]string, 0, len(s.Line))
	for k := range s.Line {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Fprintf(im.out, "settings imported from %s: %s\n", im.settings, strings.Join(keys, ", "))
	if wifiNote != "" {
		fmt.Fprintf(im.out, "Wi-Fi %q: %s\n", rec.SSID, wifiNote)
	}
	if changed {
		if err := im.writeSettings(im.settings, scrubbed, 0o644); err != nil {
			// The speaker works; the passphrase is still on the card.
			// The record does not match the file, so the next boot
			// imports again and retries.
			return fmt.Errorf("remove the Wi-Fi passphrase from %s (it stays there in clear until the next boot retries): %w", im.settings, err)
		}
		fmt.Fprintf(im.out, "Wi-Fi passphrase removed from %s\n", im.settings)
	}
	return nil
}

func (im *importer) readRecord() (importRecord, error) {
	var r importRecord
	p := filepath.Join(im.state, importRecordFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("read %s: %w", p, err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		// A damaged record only costs a re-import (and the stored
		// passphrase, which the owner then writes again).
		fmt.Fprintf(im.out, "%s is damaged (%v): importing again\n", p, err)
		return importRecord{}, nil
	}
	return r, nil
}

func (im *importer) writeRecord(r importRecord) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return statedir.WriteFileAtomic(filepath.Join(im.state, importRecordFile), append(b, '\n'), 0o600)
}

// wpaPSK is the WPA key of IEEE 802.11i: PBKDF2-HMAC-SHA1 of the passphrase
// with the SSID as salt, 4096 rounds, 32 bytes; 64 hex digits are the key
// itself.
func wpaPSK(passphrase, ssid string) (string, error) {
	if len(passphrase) == 64 {
		if _, err := hex.DecodeString(passphrase); err == nil {
			return strings.ToLower(passphrase), nil
		}
	}
	k, err := pbkdf2.Key(sha1.New, passphrase, []byte(ssid), 4096, 32)
	if err != nil {
		return "", fmt.Errorf("derive the WPA key: %w", err)
	}
	return hex.EncodeToString(k), nil
}

// wpaConf is wpa_supplicant's configuration for one network. The SSID is
// written in hex, so no character of it needs quoting.
func wpaConf(r importRecord, from string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by speakerbox firstboot from %s; edits here are replaced at the next import.\n", from)
	b.WriteString("ctrl_interface=/run/wpa_supplicant\n")
	if r.Country != "" {
		fmt.Fprintf(&b, "country=%s\n", r.Country)
	}
	b.WriteString("network={\n")
	fmt.Fprintf(&b, "\tssid=%s\n", hex.EncodeToString([]byte(r.SSID)))
	b.WriteString("\tscan_ssid=1\n")
	if r.PSK != "" {
		fmt.Fprintf(&b, "\tpsk=%s\n", r.PSK)
	} else {
		b.WriteString("\tkey_mgmt=NONE\n")
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

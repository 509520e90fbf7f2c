package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// loadState loads with the configuration file cfgPath ("" for none) and the
// state directory state, given as a flag when stateFlag, else as the
// default.
func loadState(t *testing.T, cfgPath, state string, environ []string, args ...string) (*Loaded, error) {
	t.Helper()
	s := NewSet()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	s.RegisterFlags(fs)
	if cfgPath != "" {
		args = append([]string{"--config", cfgPath}, args...)
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return s.Load(Env{Environ: environ, Hostname: "kitchen", DefaultStateDir: state})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The page's settings go over the file and under the environment and the
// flags, and each key says where its value came from.
func TestSettingsFilePrecedence(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "speakerbox.yaml")
	writeFile(t, cfg, "name: FromFile\nautoplay: on\naudio:\n  initial_volume: 20\n  max_volume: 80\n  device: hw:1,0\ngpio:\n  warmup: 1s\n")
	state := t.TempDir()
	settings := SettingsPath(state)
	writeFile(t, settings, "name: FromPage\naudio:\n  initial_volume: 30\n  max_volume: 70\ngpio:\n  warmup: 2s\n")
	env := []string{"SPEAKERBOX_AUDIO_INITIAL_VOLUME=40", "SPEAKERBOX_GPIO_WARMUP=3s"}
	l, err := loadState(t, cfg, state, env, "--audio.initial_volume=50")
	if err != nil {
		t.Fatal(err)
	}
	c := l.Config
	for _, cs := range []struct{ key, got, want, src string }{
		{"audio.device", c.Audio.Device, "hw:1,0", cfg + ":6"},                                             // file only
		{"autoplay", c.Autoplay, "on", cfg + ":2"},                                                         // file only
		{"name", c.Name, "FromPage", settings + ":1"},                                                      // file < page
		{"audio.max_volume", strconv.Itoa(c.Audio.MaxVolume), "70", settings + ":4"},                       // file < page
		{"gpio.warmup", c.GPIO.Warmup.String(), "3s", "env SPEAKERBOX_GPIO_WARMUP"},                        // page < env
		{"audio.initial_volume", strconv.Itoa(c.Audio.InitialVolume), "50", "flag --audio.initial_volume"}, // env < flag
	} {
		if cs.got != cs.want || l.Source(cs.key) != cs.src {
			t.Errorf("%s = %q from %q, want %q from %q", cs.key, cs.got, l.Source(cs.key), cs.want, cs.src)
		}
	}
	if l.Settings != settings || l.File != cfg {
		t.Errorf("Settings %q, File %q", l.Settings, l.File)
	}
	var b bytes.Buffer
	l.Print(&b)
	for _, want := range []string{"# settings saved from the web page: " + settings, `name: "FromPage"  # ` + settings + ":1", "gpio.warmup: 3s  # env SPEAKERBOX_GPIO_WARMUP"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("--print-config lacks %q:\n%s", want, b.String())
		}
	}
}

// state_dir is found first, from a flag, the environment or the file, and
// the settings of that directory are read; not those of the default one.
func TestSettingsFileOfTheEffectiveStateDir(t *testing.T) {
	def, fromFile, fromEnv, fromFlag := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []string{def, fromFile, fromEnv, fromFlag} {
		writeFile(t, SettingsPath(d), fmt.Sprintf("name: %s\n", filepath.Base(d)))
	}
	cfg := filepath.Join(t.TempDir(), "speakerbox.yaml")
	writeFile(t, cfg, "state_dir: "+fromFile+"\n")
	for _, tc := range []struct {
		what    string
		cfg     string
		environ []string
		args    []string
		want    string
	}{
		{"default", "", nil, nil, def},
		{"file", cfg, nil, nil, fromFile},
		{"env", cfg, []string{"SPEAKERBOX_STATE_DIR=" + fromEnv}, nil, fromEnv},
		{"flag", cfg, []string{"SPEAKERBOX_STATE_DIR=" + fromEnv}, []string{"--state_dir", fromFlag}, fromFlag},
	} {
		l, err := loadState(t, tc.cfg, def, tc.environ, tc.args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.what, err)
		}
		if l.Config.Name != filepath.Base(tc.want) || l.Source("name") != SettingsPath(tc.want)+":1" {
			t.Errorf("%s: name %q from %q, want the settings of %s", tc.what, l.Config.Name, l.Source("name"), tc.want)
		}
	}
	// No settings file: nothing changes, no error.
	empty := t.TempDir()
	l, err := loadState(t, "", empty, nil)
	if err != nil || l.Config.Name != "kitchen" || l.Settings != "" {
		t.Fatalf("without a settings file: %v, name %q, Settings %q", err, l.Config.Name, l.Settings)
	}
}

// A bad value in the settings file is a configuration error like any
// other: the key, the value, what is allowed, the file and the line.
func TestSettingsFileBadValues(t *testing.T) {
	for _, tc := range []struct {
		file, key, want string
	}{
		{"name: Fine\naudio:\n  max_volume: 150\n", "audio.max_volume",
			`config: audio.max_volume: out of range: value "150" (from %s:3); allowed: an integer from 0 to 100`},
		{"gpio:\n  warmup: forever\n", "gpio.warmup", `config: gpio.warmup: not a duration such as 500ms or 5m: value "forever" (from %s:2)`},
		{"autoplay: sometimes\n", "autoplay", `config: autoplay: not allowed: value "sometimes" (from %s:1); allowed: one of auto, on, off`},
		{"audio:\n  output: wav\n", "audio.output", `config: audio.output: not a setting the web page can change, so not allowed in this file: value "wav" (from %s:2); allowed: only name,`},
		{"state_dir: /tmp\n", "state_dir", `not a setting the web page can change, so not allowed in this file: value "/tmp" (from %s:1)`},
		{"api.token: hunter2\n", "api.token", `not a setting the web page can change, so not allowed in this file: value "***" (from %s:1)`},
		{"api:\n  token: hunter2\n", "api", `config: api: not a setting the web page can change, so not allowed in this file: value "{mapping}" (from %s:1)`},
		{"hooks:\n  on_event: sh\n", "hooks", `config: hooks: not a setting the web page can change, so not allowed in this file: value "{mapping}" (from %s:1)`},
		{"nonsense: 1\n", "nonsense", `config: nonsense: unknown key: value "1" (from %s:1); allowed: at the top level: audio (section), autoplay, gpio (section), name`},
		{"name: Kitchen\nname: Other\n", "name", `key given twice: value "Other" (from %s:2)`},
	} {
		state := t.TempDir()
		p := SettingsPath(state)
		writeFile(t, p, tc.file)
		_, err := loadState(t, "", state, nil)
		var ce *Error
		if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(err.Error(), fmt.Sprintf(tc.want, p)) {
			t.Errorf("%q: error %v, want key %s and %q", tc.file, err, tc.key, fmt.Sprintf(tc.want, p))
		}
	}
	// Not YAML at all: the file is named.
	state := t.TempDir()
	writeFile(t, SettingsPath(state), "name: [unclosed\n")
	if _, err := loadState(t, "", state, nil); err == nil || !strings.Contains(err.Error(), "not valid YAML") || !strings.Contains(err.Error(), SettingsPath(state)) {
		t.Errorf("broken settings file: %v", err)
	}
}

// A settings file that cannot be read is an error, not silently skipped:
// the speaker would come up with settings its owner did not choose.
func TestSettingsFileUnreadable(t *testing.T) {
	state := t.TempDir()
	// A directory where the file should be: unreadable as a file for any
	// user, root included.
	if err := os.Mkdir(SettingsPath(state), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := loadState(t, "", state, nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.Source != SettingsPath(state) || !strings.Contains(err.Error(), "cannot read the page settings file") {
		t.Errorf("error %v", err)
	}
}

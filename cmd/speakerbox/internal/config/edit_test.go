package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// speaker is a configuration file in a read-only directory (as on a
// speaker: a read-only root, or systemd's ProtectSystem) and a state
// directory.
type speaker struct {
	cfg, state string
	cfgData    string
	cfgMtime   time.Time
}

func newSpeaker(t *testing.T, cfgData string) *speaker {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "etc")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	sp := &speaker{cfg: filepath.Join(dir, "speakerbox.yaml"), state: t.TempDir(), cfgData: cfgData}
	if err := os.WriteFile(sp.cfg, []byte(cfgData), 0o640); err != nil {
		t.Fatal(err)
	}
	// An old mtime, so that a rewrite within the same clock tick shows.
	old := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(sp.cfg, old, old); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(sp.cfg)
	if err != nil {
		t.Fatal(err)
	}
	sp.cfgMtime = st.ModTime()
	// As root chmod does not stop a write; the bytes and the mtime below
	// are then what shows the file was left alone.
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	t.Cleanup(func() { sp.checkConfigUntouched(t) })
	return sp
}

func (sp *speaker) load(t *testing.T, environ []string, args ...string) *Loaded {
	t.Helper()
	l, err := loadState(t, sp.cfg, sp.state, environ, args...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (sp *speaker) settings() string { return SettingsPath(sp.state) }

// checkConfigUntouched fails t unless the configuration file has its bytes,
// its mode and its mtime of the start, and its directory nothing else.
func (sp *speaker) checkConfigUntouched(t *testing.T) {
	t.Helper()
	st, err := os.Stat(sp.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(sp.cfg); string(data) != sp.cfgData {
		t.Errorf("the configuration file changed:\n%s", data)
	}
	if !st.ModTime().Equal(sp.cfgMtime) || st.Mode().Perm() != 0o640 {
		t.Errorf("the configuration file was touched: mtime %v (was %v), mode %v", st.ModTime(), sp.cfgMtime, st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(filepath.Dir(sp.cfg)); len(ents) != 1 {
		t.Errorf("the configuration directory holds %d entries, want only the file", len(ents))
	}
}

func TestEditorSavesInTheStateDirAndLeavesTheConfigFile(t *testing.T) {
	const file = "# my speaker\nname: Kitchen\naudio:\n  output: wav # no sound card yet\n  max_volume: 90\nlog_level: debug\n"
	sp := newSpeaker(t, file)
	e := NewEditor(sp.load(t, nil))
	if e.Path() != sp.settings() {
		t.Fatalf("Path() = %q, want %q", e.Path(), sp.settings())
	}
	changed, err := e.Update(map[string]any{
		"name": "Living room", "audio.max_volume": float64(70), "audio.initial_volume": "40",
		"gpio.active_low": true, "gpio.idle_timeout": "10m", "autoplay": "off", "gpio.warmup": "500ms", // warmup: unchanged
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"name", "audio.initial_volume", "audio.max_volume", "gpio.active_low", "gpio.idle_timeout", "autoplay"}
	if strings.Join(changed, ",") != strings.Join(want, ",") {
		t.Errorf("changed %v, want %v", changed, want)
	}
	st, err := os.Stat(sp.settings())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("settings file: %v, %v; want mode 0600", st, err)
	}
	data, _ := os.ReadFile(sp.settings())
	for _, s := range []string{"log_level", "output", "warmup", "state_dir"} {
		if strings.Contains(string(data), s) {
			t.Errorf("the settings file holds %q, which the page did not change:\n%s", s, data)
		}
	}
	// No temporary file left beside it.
	if ents, _ := os.ReadDir(sp.state); len(ents) != 1 {
		t.Errorf("state directory holds %d entries, want the settings file alone", len(ents))
	}
	l := sp.load(t, nil)
	c := l.Config
	if c.Name != "Living room" || c.Audio.MaxVolume != 70 || c.Audio.InitialVolume != 40 || !c.GPIO.ActiveLow ||
		c.GPIO.IdleTimeout != 10*time.Minute || c.Autoplay != "off" || c.LogLevel != "debug" || c.Audio.Output != "wav" {
		t.Errorf("reloaded: %+v\nsettings file:\n%s", c, data)
	}
	if src := l.Source("audio.max_volume"); !strings.HasPrefix(src, sp.settings()+":") {
		t.Errorf("audio.max_volume from %q, want the settings file", src)
	}
	if src := l.Source("log_level"); src != sp.cfg+":6" {
		t.Errorf("log_level from %q, want the configuration file", src)
	}
	if v := e.Values(); v["audio.max_volume"] != 70 || v["gpio.idle_timeout"] != "10m0s" || v["name"] != "Living room" {
		t.Errorf("Values() = %v", v)
	}

	// A second save keeps the first one's keys and a comment added by hand.
	if err := os.WriteFile(sp.settings(), append([]byte("# kept\n"), data...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Update(map[string]any{"gpio.relay_line": "GPIO17"}); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(sp.settings())
	if c := sp.load(t, nil).Config; c.GPIO.RelayLine != "GPIO17" || c.Name != "Living room" || !strings.Contains(string(data), "# kept") {
		t.Errorf("after a second save: %+v\n%s", c, data)
	}
}

func TestEditorRefusesWithTheStartMessagesAndWritesNothing(t *testing.T) {
	const file = "name: Kitchen\n"
	for _, tc := range []struct {
		changes map[string]any
		key     string
		msg     string
	}{
		{map[string]any{"audio.max_volume": float64(150)}, "audio.max_volume", `config: audio.max_volume: out of range: value "150" (from web page); allowed: an integer from 0 to 100`},
		{map[string]any{"audio.max_volume": "loud"}, "audio.max_volume", `not an integer`},
		{map[string]any{"audio.max_volume": 50.5}, "audio.max_volume", `not an integer`},
		{map[string]any{"name": ""}, "name", "allowed: a name of 1 to 63 bytes"},
		{map[string]any{"name": "Fine", "gpio.warmup": "1 hour"}, "gpio.warmup", "a duration"},
		{map[string]any{"gpio.warmup": "11s"}, "gpio.warmup", "out of range"},
		{map[string]any{"gpio.relay_line": "GPIO 17"}, "gpio.relay_line", "a line name"},
		{map[string]any{"autoplay": "sometimes"}, "autoplay", "one of auto, on, off"},
		{map[string]any{"gpio.active_low": "yes please"}, "gpio.active_low", "true or false"},
		{map[string]any{"gpio.active_low": float64(1)}, "gpio.active_low", "true or false"},
		{map[string]any{"audio.initial_volume": nil}, "audio.initial_volume", "not an integer"},
		{map[string]any{"state_dir": "/tmp"}, "state_dir", "not a setting the web page can change"},
		{map[string]any{"hooks.on_event": "rm -rf /"}, "hooks.on_event", "not a setting"},
		{map[string]any{"nonsense": 1.0}, "nonsense", "not a setting"},
	} {
		for _, saved := range []string{"", "autoplay: on\n"} {
			sp := newSpeaker(t, file)
			if saved != "" {
				writeFile(t, sp.settings(), saved)
			}
			e := NewEditor(sp.load(t, nil))
			before := e.Values()
			_, err := e.Update(tc.changes)
			var ce *Error
			if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%v: error %v, want key %s and %q", tc.changes, err, tc.key, tc.msg)
			}
			data, err := os.ReadFile(sp.settings())
			if saved == "" && !errors.Is(err, fs.ErrNotExist) || saved != "" && string(data) != saved {
				t.Errorf("%v: the settings file (saved %q) is now %q (%v)", tc.changes, saved, data, err)
			}
			if ents, _ := os.ReadDir(sp.state); len(ents) > 1 {
				t.Errorf("%v: %d entries in the state directory", tc.changes, len(ents))
			}
			if after := e.Values(); after["name"] != before["name"] {
				t.Errorf("%v: values changed: %v", tc.changes, after)
			}
		}
	}
}

// A key set by a flag or the environment wins over the page: the editor
// says so, saves the change, and the next start still takes the flag or
// the variable.
func TestEditorReportsOverrides(t *testing.T) {
	sp := newSpeaker(t, "")
	env := []string{"SPEAKERBOX_AUDIO_MAX_VOLUME=80"}
	e := NewEditor(sp.load(t, env, "--name", "Flagged"))
	if _, err := e.Update(map[string]any{"gpio.relay_line": "GPIO17", "audio.max_volume": 60.0, "name": "Saved"}); err != nil {
		t.Fatal(err)
	}
	o := e.Overridden([]string{"gpio.relay_line", "audio.max_volume", "name"})
	if len(o) != 2 || o["name"] != "flag --name" || o["audio.max_volume"] != "env SPEAKERBOX_AUDIO_MAX_VOLUME" {
		t.Errorf("Overridden = %v", o)
	}
	l := sp.load(t, env, "--name", "Flagged")
	if c := l.Config; c.GPIO.RelayLine != "GPIO17" || c.Audio.MaxVolume != 80 || c.Name != "Flagged" {
		t.Errorf("with the flag and the variable: %+v", c)
	}
	if o := NewEditor(l).Overridden([]string{"gpio.relay_line", "audio.max_volume", "name"}); len(o) != 2 {
		t.Errorf("after a restart, Overridden = %v", o)
	}
	if c := sp.load(t, nil).Config; c.Audio.MaxVolume != 60 || c.Name != "Saved" {
		t.Errorf("without them: %+v", c)
	}
}

// The state directory is created when missing (a first save on a fresh
// speaker), 0700 as statedir makes it.
func TestEditorCreatesTheStateDir(t *testing.T) {
	sp := newSpeaker(t, "")
	sp.state = filepath.Join(sp.state, "new", "state")
	e := NewEditor(sp.load(t, nil))
	if _, err := e.Update(map[string]any{"name": "Fresh"}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(sp.state); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("state dir: %v, %v", st, err)
	}
	if c := sp.load(t, nil).Config; c.Name != "Fresh" {
		t.Errorf("reloaded name %q", c.Name)
	}
}

func TestEditorWillNotRewriteABrokenSettingsFile(t *testing.T) {
	sp := newSpeaker(t, "name: Kitchen\n")
	e := NewEditor(sp.load(t, nil))
	// Someone broke the file by hand after start.
	const broken = "name: [unclosed\n"
	writeFile(t, sp.settings(), broken)
	_, err := e.Update(map[string]any{"name": "Other"})
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "" || ce.Source != sp.settings() {
		t.Fatalf("rewrote a file that is not valid YAML: %v", err)
	}
	for _, bad := range []string{"audio:\n  max_volume: 700\n", "audio:\n  bitrate: 320\n"} {
		writeFile(t, sp.settings(), bad)
		_, err := e.Update(map[string]any{"name": "Other"})
		if !errors.As(err, &ce) || !strings.HasPrefix(ce.Key, "audio.") || ce.Source != sp.settings()+":2" {
			t.Fatalf("%q: error %v, want one naming the key at %s:2", bad, err, sp.settings())
		}
		if data, _ := os.ReadFile(sp.settings()); string(data) != bad {
			t.Errorf("file changed: %s", data)
		}
	}
}

func TestEditorWithoutStateDirSavesNothing(t *testing.T) {
	l, err := loadState(t, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	e := NewEditor(l)
	if _, err := e.Update(map[string]any{"name": "Other"}); err == nil || !strings.Contains(err.Error(), "no state directory") {
		t.Fatalf("error %v", err)
	}
	if v := e.Values(); v["name"] != "kitchen" {
		t.Errorf("values changed: %v", v)
	}
}

func TestEditorQuotesStringsThatLookLikeOtherTypes(t *testing.T) {
	sp := newSpeaker(t, "")
	e := NewEditor(sp.load(t, nil))
	for _, name := range []string{"123", "true", "null", "a: b", "#hash", "- dash", "ünïcode 🎵"} {
		if _, err := e.Update(map[string]any{"name": name}); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if c := sp.load(t, nil).Config; c.Name != name {
			data, _ := os.ReadFile(sp.settings())
			t.Errorf("name %q reloads as %q:\n%s", name, c.Name, data)
		}
	}
}

func FuzzEditorUpdate(f *testing.F) {
	f.Add("name", "Kitchen", "audio:\n  max_volume: 50\n")
	f.Add("gpio.warmup", "1s", "gpio: {warmup: 2s}\n")
	f.Add("audio.max_volume", "200", "# c\n")
	f.Add("name", "x\ny", "name: [\n")
	f.Add("autoplay", "on", "audio.max_volume: 3\n")
	f.Fuzz(func(t *testing.T, key, value, file string) {
		state := t.TempDir()
		p := SettingsPath(state)
		if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		env := Env{Hostname: "h", DefaultStateDir: state, DefaultConfigPath: filepath.Join(state, "absent.yaml")}
		l, err := NewSet().Load(env)
		if err != nil {
			return // a file Load refuses never reaches the editor
		}
		e := NewEditor(l)
		changed, err := e.Update(map[string]any{key: value})
		if err != nil {
			if data, _ := os.ReadFile(p); string(data) != file {
				t.Fatalf("refused (%v) but the file changed", err)
			}
			return
		}
		l2, err := NewSet().Load(env)
		if err != nil {
			t.Fatalf("the editor wrote a file Load refuses: %v", err)
		}
		if len(changed) > 0 && settingValues(l2.Config)[key] != e.Values()[key] {
			t.Fatalf("%s: reloads as %v, editor says %v", key, settingValues(l2.Config)[key], e.Values()[key])
		}
	})
}

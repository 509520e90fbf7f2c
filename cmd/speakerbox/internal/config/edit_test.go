package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func loadPath(t *testing.T, path string, environ []string, args ...string) *Loaded {
	t.Helper()
	s := NewSet()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	s.RegisterFlags(fs)
	if err := fs.Parse(append([]string{"--config", path}, args...)); err != nil {
		t.Fatal(err)
	}
	l, err := s.Load(Env{Environ: environ, Hostname: "kitchen", DefaultStateDir: "/var/lib/speakerbox"})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "speakerbox.yaml")
	if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEditorWritesAndKeepsTheRest(t *testing.T) {
	const file = "# my speaker\nname: Kitchen\naudio:\n  output: wav # no sound card yet\n  max_volume: 90\nlog_level: debug\n"
	p := writeConfig(t, file)
	e := NewEditor(loadPath(t, p, nil), "/nonexistent/default.yaml")
	if e.Path() != p {
		t.Fatalf("Path() = %q, want the loaded file %q", e.Path(), p)
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
	data, _ := os.ReadFile(p)
	for _, s := range []string{"# my speaker", "# no sound card yet", "log_level: debug", "output: wav"} {
		if !strings.Contains(string(data), s) {
			t.Errorf("the rewritten file lost %q:\n%s", s, data)
		}
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the old 0640", st.Mode().Perm())
	}
	c := loadPath(t, p, nil).Config
	if c.Name != "Living room" || c.Audio.MaxVolume != 70 || c.Audio.InitialVolume != 40 || !c.GPIO.ActiveLow ||
		c.GPIO.IdleTimeout != 10*time.Minute || c.Autoplay != "off" || c.LogLevel != "debug" || c.Audio.Output != "wav" {
		t.Errorf("reloaded: %+v\nfile:\n%s", c, data)
	}
	if v := e.Values(); v["audio.max_volume"] != 70 || v["gpio.idle_timeout"] != "10m0s" || v["name"] != "Living room" {
		t.Errorf("Values() = %v", v)
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
		p := writeConfig(t, file)
		e := NewEditor(loadPath(t, p, nil), "")
		before := e.Values()
		_, err := e.Update(tc.changes)
		var ce *Error
		if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: error %v, want key %s and %q", tc.changes, err, tc.key, tc.msg)
		}
		if data, _ := os.ReadFile(p); string(data) != file {
			t.Errorf("%v: the file changed:\n%s", tc.changes, data)
		}
		if after := e.Values(); after["name"] != before["name"] {
			t.Errorf("%v: values changed: %v", tc.changes, after)
		}
	}
}

func TestEditorCreatesTheFileAndReportsOverrides(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new.yaml")
	s := NewSet()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	s.RegisterFlags(fs)
	if err := fs.Parse([]string{"--name", "Flagged"}); err != nil {
		t.Fatal(err)
	}
	l, err := s.Load(Env{Environ: []string{"SPEAKERBOX_AUDIO_MAX_VOLUME=80"}, Hostname: "kitchen", DefaultStateDir: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	e := NewEditor(l, p)
	if _, err := e.Update(map[string]any{"gpio.relay_line": "GPIO17", "audio.max_volume": 60.0, "name": "Saved"}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("new file: %v, %v", st, err)
	}
	c := loadPath(t, p, nil).Config
	if c.GPIO.RelayLine != "GPIO17" || c.Audio.MaxVolume != 60 || c.Name != "Saved" {
		t.Errorf("reloaded %+v", c)
	}
	o := e.Overridden([]string{"gpio.relay_line", "audio.max_volume", "name"})
	if len(o) != 2 || o["name"] != "flag --name" || o["audio.max_volume"] != "env SPEAKERBOX_AUDIO_MAX_VOLUME" {
		t.Errorf("Overridden = %v", o)
	}
}

func TestEditorWillNotRewriteABrokenFile(t *testing.T) {
	p := writeConfig(t, "name: Kitchen\n")
	e := NewEditor(loadPath(t, p, nil), "")
	// Someone broke the file by hand after start.
	const broken = "name: [unclosed\n"
	if err := os.WriteFile(p, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Update(map[string]any{"name": "Other"}); err == nil {
		t.Fatal("rewrote a file that is not valid YAML")
	}
	const badValue = "audio:\n  bitrate: 7\n"
	if err := os.WriteFile(p, []byte(badValue), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := e.Update(map[string]any{"name": "Other"})
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "audio.bitrate" {
		t.Fatalf("error %v, want one naming audio.bitrate", err)
	}
	if data, _ := os.ReadFile(p); string(data) != badValue {
		t.Errorf("file changed: %s", data)
	}
}

func TestEditorQuotesStringsThatLookLikeOtherTypes(t *testing.T) {
	p := writeConfig(t, "")
	e := NewEditor(loadPath(t, p, nil), "")
	for _, name := range []string{"123", "true", "null", "a: b", "#hash", "- dash", "ünïcode 🎵"} {
		if _, err := e.Update(map[string]any{"name": name}); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if c := loadPath(t, p, nil).Config; c.Name != name {
			data, _ := os.ReadFile(p)
			t.Errorf("name %q reloads as %q:\n%s", name, c.Name, data)
		}
	}
}

func FuzzEditorUpdate(f *testing.F) {
	f.Add("name", "Kitchen", "audio:\n  max_volume: 50\n")
	f.Add("gpio.warmup", "1s", "gpio: {warmup: 2s}\n")
	f.Add("audio.max_volume", "200", "# c\n")
	f.Add("name", "x\ny", "name: [\n")
	f.Fuzz(func(t *testing.T, key, value, file string) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		s := NewSet()
		l, err := s.Load(Env{Hostname: "h", DefaultConfigPath: p})
		if err != nil {
			return // a file Load refuses never reaches the editor
		}
		e := NewEditor(l, p)
		changed, err := e.Update(map[string]any{key: value})
		if err != nil {
			if data, _ := os.ReadFile(p); string(data) != file {
				t.Fatalf("refused (%v) but the file changed", err)
			}
			return
		}
		l2, err := NewSet().Load(Env{Hostname: "h", DefaultConfigPath: p})
		if err != nil {
			t.Fatalf("the editor wrote a file Load refuses: %v", err)
		}
		if len(changed) > 0 && settingValues(l2.Config)[key] != e.Values()[key] {
			t.Fatalf("%s: reloads as %v, editor says %v", key, settingValues(l2.Config)[key], e.Values()[key])
		}
	})
}

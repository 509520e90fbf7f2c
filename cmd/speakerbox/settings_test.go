package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The settings saved from the web page (settings.yaml in the state
// directory) reach the speaker's own commands: --print-config and doctor
// name them, and a bad value there stops the speaker as one in the
// configuration file does, with the file and the line.
func TestPageSettingsAtStart(t *testing.T) {
	state := t.TempDir()
	settings := filepath.Join(state, "settings.yaml")
	cfg := writeConfig(t, "name: FromFile\naudio:\n  max_volume: 90\n")
	if err := os.WriteFile(settings, []byte("name: FromPage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"SPEAKERBOX_STATE_DIR=" + state}
	out, errOut, code := runCmd(t, speakerbox(t, env, "run", "--config", cfg, "--print-config"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"# settings saved from the web page: " + settings, `name: "FromPage"  # ` + settings + ":1", "audio.max_volume: 90  # " + cfg + ":3"} {
		if !strings.Contains(out, want) {
			t.Errorf("--print-config lacks %q:\n%s", want, out)
		}
	}
	out, errOut, code = runCmd(t, speakerbox(t, env, "doctor", "config", "--config", cfg))
	if code != 0 || !strings.Contains(out, "settings saved from the web page: "+settings) {
		t.Errorf("doctor config: exit %d, %q %q", code, out, errOut)
	}
	// The environment wins over the page.
	out, _, _ = runCmd(t, speakerbox(t, append(env, "SPEAKERBOX_NAME=FromEnv"), "run", "--config", cfg, "--print-config"))
	if !strings.Contains(out, `name: "FromEnv"  # env SPEAKERBOX_NAME`) {
		t.Errorf("with SPEAKERBOX_NAME:\n%s", out)
	}

	if err := os.WriteFile(settings, []byte("name: FromPage\naudio:\n  max_volume: 101\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runCmd(t, speakerbox(t, env, "run", "--config", cfg, "--print-config"))
	want := `config: audio.max_volume: out of range: value "101" (from ` + settings + `:3); allowed: an integer from 0 to 100`
	if code != exitUsage || !strings.Contains(errOut, want) {
		t.Errorf("bad page setting: exit %d, stderr %q; want 2 and %q", code, errOut, want)
	}
}

package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/receiver/connect"
)

func load(t *testing.T, file string, environ []string, args ...string) (*Loaded, error) {
	t.Helper()
	s := NewSet()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	s.RegisterFlags(fs)
	if file != "" {
		p := filepath.Join(t.TempDir(), "speakerbox.yaml")
		if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", p}, args...)
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return s.Load(Env{Environ: environ, Hostname: "kitchen", DefaultStateDir: "/var/lib/speakerbox"})
}

func TestDefaults(t *testing.T) {
	l, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := l.Config
	if c.Name != "kitchen" || c.DeviceType != "speaker" || c.StateDir != "/var/lib/speakerbox" {
		t.Errorf("identity defaults: %+v", c)
	}
	if c.Audio.Output != "alsa" || c.Audio.Buffer != 500*time.Millisecond || !c.Audio.KeepOutputOpen || c.Audio.Bitrate != 160 {
		t.Errorf("audio defaults: %+v", c.Audio)
	}
	if c.GPIO.IdleTimeout != 5*time.Minute || c.GPIO.Warmup != 500*time.Millisecond || c.GPIO.RelayLine != "" {
		t.Errorf("gpio defaults: %+v", c.GPIO)
	}
	if c.Zeroconf.Model != "librespot" || c.Zeroconf.Port != 0 || c.Hooks.Timeout != 10*time.Second {
		t.Errorf("zeroconf/hooks defaults: %+v %+v", c.Zeroconf, c.Hooks)
	}
	if l.Source("audio.device") != "default" {
		t.Errorf("source = %q", l.Source("audio.device"))
	}
}

func TestPrecedence(t *testing.T) {
	file := "name: FromFile\naudio:\n  initial_volume: 20\n  device: hw:1,0\n  buffer: 1s\n"
	env := []string{"SPEAKERBOX_AUDIO_INITIAL_VOLUME=30", "SPEAKERBOX_AUDIO_DEVICE=hw:2,0", "PATH=/bin"}
	l, err := load(t, file, env, "--audio.initial_volume=40")
	if err != nil {
		t.Fatal(err)
	}
	c := l.Config
	cases := []struct {
		key, got, want, src string
	}{
		{"name", c.Name, "FromFile", "speakerbox.yaml:1"},
		{"audio.buffer", c.Audio.Buffer.String(), "1s", "speakerbox.yaml:5"},
		{"audio.device", c.Audio.Device, "hw:2,0", "env SPEAKERBOX_AUDIO_DEVICE"},
		{"audio.initial_volume", strconv.Itoa(c.Audio.InitialVolume), "40", "flag --audio.initial_volume"},
	}
	for _, cs := range cases {
		if cs.got != cs.want {
			t.Errorf("%s = %q, want %q", cs.key, cs.got, cs.want)
		}
		if src := l.Source(cs.key); !strings.HasSuffix(src, cs.src) {
			t.Errorf("%s source = %q, want suffix %q", cs.key, src, cs.src)
		}
	}
}

func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name    string
		file    string
		env     []string
		args    []string
		want    []string // substrings of the message
		wantKey string
	}{
		{name: "unknown key", file: "audio:\n  volum: 3\n", want: []string{"audio.volum", "unknown key", "speakerbox.yaml:2", "initial_volume"}, wantKey: "audio.volum"},
		{name: "unknown top key", file: "nmae: x\n", want: []string{"nmae", "unknown key", ":1", "device_type"}, wantKey: "nmae"},
		{name: "wrong type int", file: "audio:\n  initial_volume: loud\n", want: []string{"audio.initial_volume", "not an integer", `"loud"`, "speakerbox.yaml:2", "from 0 to 100"}, wantKey: "audio.initial_volume"},
		{name: "quoted int", file: "audio:\n  initial_volume: \"50\"\n", want: []string{"not an integer"}, wantKey: "audio.initial_volume"},
		{name: "wrong type bool", file: "gpio:\n  active_low: maybe\n", want: []string{"gpio.active_low", "not true or false", `"maybe"`}, wantKey: "gpio.active_low"},
		{name: "list expected", file: "zeroconf:\n  interfaces: eth0\n", want: []string{"zeroconf.interfaces", "not a list"}, wantKey: "zeroconf.interfaces"},
		{name: "out of range volume", file: "audio:\n  initial_volume: 150\n", want: []string{"audio.initial_volume", "out of range", `"150"`, "speakerbox.yaml:2", "an integer from 0 to 100"}, wantKey: "audio.initial_volume"},
		{name: "bad enum", file: "audio:\n  output: pulse\n", want: []string{"audio.output", "not allowed", `"pulse"`, "one of alsa, pipe, wav, null"}, wantKey: "audio.output"},
		{name: "bitrate set", args: []string{"--audio.bitrate=128"}, want: []string{"audio.bitrate", "flag --audio.bitrate", "one of 96, 160, 320"}, wantKey: "audio.bitrate"},
		{name: "duration from env", env: []string{"SPEAKERBOX_GPIO_IDLE_TIMEOUT=soon"}, want: []string{"gpio.idle_timeout", "env SPEAKERBOX_GPIO_IDLE_TIMEOUT", "not a duration"}, wantKey: "gpio.idle_timeout"},
		{name: "duration range", args: []string{"--audio.buffer=10ms"}, want: []string{"audio.buffer", "out of range", "from 100ms to 5s"}, wantKey: "audio.buffer"},
		{name: "unknown env", env: []string{"SPEAKERBOX_VOLUME=3"}, want: []string{"unknown environment variable", "SPEAKERBOX_VOLUME"}},
		{name: "name too long", args: []string{"--name=" + strings.Repeat("x", 64)}, want: []string{"name", "1 to 63 bytes"}, wantKey: "name"},
		{name: "device type", file: "device_type: fridge\n", want: []string{"device_type", "homething"}, wantKey: "device_type"},
		{name: "duplicate", file: "name: a\nname: b\n", want: []string{"given twice"}, wantKey: "name"},
		{name: "secret not echoed", file: "hooks:\n  env: [\"TOKEN\"]\n", want: []string{"hooks.env", "***", "NAME=value"}, wantKey: "hooks.env"},
		{name: "alsa plugin from env", env: []string{"SPEAKERBOX_AUDIO_DEVICE=default"}, want: []string{"audio.device", "alsa-lib plugin name", `"default"`, "env SPEAKERBOX_AUDIO_DEVICE", "hw:CARD,DEV", "speakerbox doctor audio", "/proc/asound/cards"}, wantKey: "audio.device"},
		{name: "alsa plugin in file", file: "audio:\n  device: plughw:1,0\n", want: []string{"audio.device", "alsa-lib plugin name", `"plughw:1,0"`, "speakerbox.yaml:2"}, wantKey: "audio.device"},
		{name: "bad device name", args: []string{"--audio.device=hw:1,x"}, want: []string{"audio.device", "not an ALSA hardware device name", "flag --audio.device"}, wantKey: "audio.device"},
		{name: "mixer needs alsa", file: "audio:\n  output: pipe\n  mixer: PCM\n", want: []string{"audio.mixer", `"PCM"`, "needs audio.output alsa", "audio.output is pipe (from", "speakerbox.yaml:2", "speakerbox.yaml:3", "empty (software volume)"}, wantKey: "audio.mixer"},
		{name: "autoplay", env: []string{"SPEAKERBOX_AUTOPLAY=always"}, want: []string{"autoplay", "not allowed", `"always"`, "env SPEAKERBOX_AUTOPLAY", "one of auto, on, off"}, wantKey: "autoplay"},
		{name: "autoplay as a YAML bool", file: "autoplay: true\n", want: []string{"autoplay", `"true"`, "speakerbox.yaml:1", "one of auto, on, off"}, wantKey: "autoplay"},
		{name: "not yaml", file: "audio: [\n", want: []string{"not valid YAML"}},
		{name: "not mapping", file: "- a\n", want: []string{"must be a mapping"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.file, c.env, c.args...)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *Error", err)
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			if ce.Key != c.wantKey {
				t.Errorf("key = %q, want %q", ce.Key, c.wantKey)
			}
			if c.name == "secret not echoed" && strings.Contains(msg, "TOKEN\"") {
				t.Errorf("secret echoed: %q", msg)
			}
		})
	}
}

// autoplay: auto by default; on and off from the file (YAML 1.2 reads a
// bare on/off as a string), the environment or a flag; each maps to the
// Connect state machine's setting.
func TestAutoplay(t *testing.T) {
	for _, tc := range []struct {
		file string
		env  []string
		args []string
		want connect.Autoplay
		src  string
	}{
		{want: connect.AutoplayFollowApp, src: "default"},
		{file: "autoplay: off\n", want: connect.AutoplayOff, src: "speakerbox.yaml:1"},
		{file: "autoplay: on\n", want: connect.AutoplayOn, src: "speakerbox.yaml:1"},
		{file: "autoplay: on\n", env: []string{"SPEAKERBOX_AUTOPLAY=auto"}, want: connect.AutoplayFollowApp, src: "env SPEAKERBOX_AUTOPLAY"},
		{env: []string{"SPEAKERBOX_AUTOPLAY=on"}, args: []string{"--autoplay=off"}, want: connect.AutoplayOff, src: "flag --autoplay"},
	} {
		l, err := load(t, tc.file, tc.env, tc.args...)
		if err != nil {
			t.Fatalf("%q %v %v: %v", tc.file, tc.env, tc.args, err)
		}
		if got := l.Config.ConnectAutoplay(); got != tc.want || !strings.HasSuffix(l.Source("autoplay"), tc.src) {
			t.Errorf("%q %v %v: %v from %q, want %v from %s", tc.file, tc.env, tc.args, got, l.Source("autoplay"), tc.want, tc.src)
		}
	}
}

func TestMissingExplicitFile(t *testing.T) {
	s := NewSet()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	s.RegisterFlags(fs)
	_ = fs.Parse([]string{"--config", "/nonexistent/x.yaml"})
	if _, err := s.Load(Env{}); err == nil || !strings.Contains(err.Error(), "/nonexistent/x.yaml") {
		t.Fatalf("err = %v", err)
	}
	// The default path is optional.
	s = NewSet()
	if _, err := s.Load(Env{DefaultConfigPath: "/nonexistent/default.yaml"}); err != nil {
		t.Fatalf("missing default file: %v", err)
	}
}

func TestPrintMasksSecrets(t *testing.T) {
	l, err := load(t, "hooks:\n  env: [\"HA_TOKEN=abc123\", \"X=y\"]\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	l.Print(&b)
	out := b.String()
	if strings.Contains(out, "abc123") {
		t.Fatalf("secret printed:\n%s", out)
	}
	for _, w := range []string{`hooks.env: ["HA_TOKEN=***", "X=***"]`, `name: "kitchen"  # default`, "audio.keep_output_open: true"} {
		if !strings.Contains(out, w) {
			t.Errorf("print lacks %q:\n%s", w, out)
		}
	}
	// Every key is printed once.
	for _, k := range keys() {
		if strings.Count(out, "\n"+k.name+": ") != 1 {
			t.Errorf("key %s printed %d times", k.name, strings.Count(out, "\n"+k.name+": "))
		}
	}
}

func TestEveryDefaultValid(t *testing.T) {
	// A default that fails its own validation would make the program unusable
	// without a config file; Load would refuse it.
	if _, err := NewSet().Load(Env{Hostname: "h"}); err != nil {
		t.Fatal(err)
	}
}

// TestREADMEDocumentsEveryKey keeps the configuration reference honest.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys() {
		i := strings.Index(string(b), "| `"+k.name+"` |")
		if i < 0 {
			t.Errorf("README.md configuration table lacks key %s", k.name)
			continue
		}
		row, _, _ := strings.Cut(string(b[i:]), "\n")
		if want := " | " + allowed(&k) + " | "; !strings.Contains(row, want) {
			t.Errorf("README.md row of %s does not say what is allowed: want %q in\n%s", k.name, want, row)
		}
	}
}

func TestDeviceNamesAccepted(t *testing.T) {
	for _, d := range []string{"hw:0,0", "hw:1", "hw:Loopback,1", "Loopback", "hw:CARD=Headphones,DEV=0"} {
		if _, err := load(t, "", nil, "--audio.device="+d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	if _, err := load(t, "audio:\n  mixer: PCM\n", nil); err != nil {
		t.Errorf("mixer with the default alsa output: %v", err)
	}
}

func TestValidateAfterOverride(t *testing.T) {
	l, err := load(t, "audio:\n  mixer: Digital\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *l.Config
	c.Audio.Output = "null"
	err = Validate(&c, func(key string) string {
		if key == "audio.output" {
			return "play --output"
		}
		return l.Source(key)
	})
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "audio.mixer" || !strings.Contains(err.Error(), "null (from play --output)") {
		t.Fatalf("err = %v", err)
	}
}

// The key table's audio.format names and the audio package's parser are
// the same list.
func TestSampleFormatNames(t *testing.T) {
	var k key
	for _, kk := range keys() {
		if kk.name == "audio.format" {
			k = kk
		}
	}
	for _, name := range strings.Split(strings.TrimPrefix(k.check.allowed, "one of "), ", ") {
		f, err := Audio{Format: name}.SampleFormat()
		if err != nil || (name == "auto") != (f == 0) || (f != 0 && f.String() != name) {
			t.Errorf("%s: %v, %v", name, f, err)
		}
	}
	if _, err := (Audio{Format: "S8"}).SampleFormat(); err == nil || !strings.Contains(err.Error(), "audio.format") {
		t.Errorf("S8: %v", err)
	}
}

func TestAudioDescribeNamesTheOutputsKeys(t *testing.T) {
	l, err := load(t, "audio:\n  output: pipe\n  path: /tmp/snapfifo\n  mixer: \"\"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := l.Config.Audio.Describe()
	if !strings.Contains(got, `audio.output pipe, audio.path "/tmp/snapfifo"`) || strings.Contains(got, "audio.device") {
		t.Errorf("pipe: %s", got)
	}
	l, err = load(t, "", nil, "--audio.mixer=Digital")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Config.Audio.Describe(); !strings.Contains(got, `audio.device "hw:0,0"`) || !strings.Contains(got, `audio.mixer "Digital"`) {
		t.Errorf("alsa: %s", got)
	}
}

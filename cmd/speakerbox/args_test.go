package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
)

// testFlags is a flag set shaped like play's: own options of each kind plus
// the configuration keys.
type testFlags struct {
	fs     *flag.FlagSet
	key    *string
	volume *int
	loud   *bool
}

func newTestFlags() *testFlags {
	fs := flag.NewFlagSet("speakerbox play", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config.NewSet().RegisterFlags(fs)
	return &testFlags{
		fs:     fs,
		key:    fs.String("key", "", "key"),
		volume: fs.Int("volume", -1, "volume in percent"),
		loud:   fs.Bool("loud", false, "loud"),
	}
}

func TestParseArgsInterspersed(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		rest    []string
		key     string
		volume  int
		loud    bool
		setFlag map[string]string // configuration keys and their raw values
	}{
		{name: "options first", args: []string{"--volume", "30", "a.ogg"}, rest: []string{"a.ogg"}, volume: 30},
		{name: "options after the files", args: []string{"a.ogg", "b.ogg", "--volume", "30"}, rest: []string{"a.ogg", "b.ogg"}, volume: 30},
		{name: "options between the files", args: []string{"a.ogg", "--volume=30", "b.ogg", "-key", "k"}, rest: []string{"a.ogg", "b.ogg"}, volume: 30, key: "k"},
		{name: "a value that looks like a file", args: []string{"a.ogg", "--audio.path", "out.wav", "b.ogg"}, rest: []string{"a.ogg", "b.ogg"}, volume: -1,
			setFlag: map[string]string{"audio.path": "out.wav"}},
		{name: "a value that looks like an option", args: []string{"--key", "--volume", "a.ogg"}, rest: []string{"a.ogg"}, key: "--volume", volume: -1},
		{name: "a negative value", args: []string{"a.ogg", "--volume", "-5"}, rest: []string{"a.ogg"}, volume: -5},
		{name: "-- ends the options", args: []string{"--volume", "3", "--", "--loud", "-", "x.ogg"}, rest: []string{"--loud", "-", "x.ogg"}, volume: 3},
		{name: "- alone is an argument", args: []string{"-", "--loud"}, rest: []string{"-"}, volume: -1, loud: true},
		{name: "bool without a value takes none", args: []string{"--loud", "false"}, rest: []string{"false"}, volume: -1, loud: true},
		{name: "bool =false", args: []string{"--loud=true", "a.ogg", "--loud=false"}, rest: []string{"a.ogg"}, volume: -1, loud: false},
		{name: "config bool =false after a file", args: []string{"a.ogg", "--audio.dither=false"}, rest: []string{"a.ogg"}, volume: -1,
			setFlag: map[string]string{"audio.dither": "false"}},
		{name: "config bool alone", args: []string{"a.ogg", "--audio.dither"}, rest: []string{"a.ogg"}, volume: -1,
			setFlag: map[string]string{"audio.dither": "true"}},
		{name: "last one wins", args: []string{"--volume", "1", "a.ogg", "--volume", "2"}, rest: []string{"a.ogg"}, volume: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newTestFlags()
			rest, err := parseArgs(f.fs, c.args, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(rest) == 0 {
				rest = nil
			}
			if !reflect.DeepEqual(rest, c.rest) {
				t.Errorf("arguments %q, want %q", rest, c.rest)
			}
			if *f.key != c.key || *f.volume != c.volume || *f.loud != c.loud {
				t.Errorf("key %q volume %d loud %v; want %q %d %v", *f.key, *f.volume, *f.loud, c.key, c.volume, c.loud)
			}
			for k, v := range c.setFlag {
				if got := f.fs.Lookup(k).Value.String(); got != v {
					t.Errorf("--%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	cases := []struct {
		args []string
		want []string // parts of the one-line message
	}{
		{[]string{"--nme", "x"}, []string{"speakerbox play: unknown option --nme", "did you mean --name?", `"speakerbox play --help"`}},
		{[]string{"a.ogg", "--volum", "3"}, []string{"unknown option --volum", "did you mean --volume?"}},
		{[]string{"--audio.outptu", "null"}, []string{"did you mean --audio.output?"}},
		{[]string{"--audio.dev", "hw:1"}, []string{"did you mean --audio.device?"}}, // the only key it begins
		{[]string{"--zzzzzz"}, []string{"unknown option --zzzzzz;"}},
		{[]string{"a.ogg", "--volume"}, []string{"option --volume needs a value"}},
		{[]string{"--volume", "loud"}, []string{"option --volume", `invalid value "loud"`}},
		{[]string{"--loud=maybe"}, []string{"option --loud", `invalid value "maybe"`}},
		{[]string{"---volume", "3"}, []string{"bad option syntax"}},
	}
	for _, c := range cases {
		f := newTestFlags()
		_, err := parseArgs(f.fs, c.args, false)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: err = %v, want a usage error", c.args, err)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || strings.Contains(msg, " -nme") {
			t.Errorf("%q: %q: want one line naming the option with two dashes", c.args, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%q: %q lacks %q", c.args, msg, w)
			}
		}
		if strings.Contains(msg, "did you mean") && strings.Contains(c.args[0], "zzz") {
			t.Errorf("%q: suggested a name for nonsense: %q", c.args, msg)
		}
	}
}

func TestParseArgsHelpAndPassThrough(t *testing.T) {
	for _, h := range []string{"-h", "--help", "-help"} {
		if _, err := parseArgs(newTestFlags().fs, []string{"a.ogg", h}, false); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: err = %v, want flag.ErrHelp", h, err)
		}
	}
	// A command with sub-levels (doctor TOPIC): unknown options and a
	// --help after the topic go to the topic, with --; this level's own
	// options are taken wherever they are.
	f := newTestFlags()
	rest, err := parseArgs(f.fs, []string{"gpio", "--on", "--volume", "4", "--line", "GPIO17", "--help", "--", "--x"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"gpio", "--on", "--line", "GPIO17", "--help", "--", "--x"}; !reflect.DeepEqual(rest, want) {
		t.Errorf("passed on %q, want %q", rest, want)
	}
	if *f.volume != 4 {
		t.Errorf("volume %d, want 4", *f.volume)
	}
	// Before the topic, --help is this level's.
	if _, err := parseArgs(newTestFlags().fs, []string{"--help", "gpio"}, true); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help before the topic: %v", err)
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"nme", "name", 1}, {"name", "nmae", 2}, {"kitten", "sitting", 3}, {"", "abc", 3}, {"volume", "volume", 0}} {
		if got := editDistance(c.a, c.b); got != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
		if got := editDistance(c.b, c.a); got != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.b, c.a, got, c.d)
		}
	}
}

// The command line end to end: exit codes and messages as a user sees them.
func TestCommandLineForgives(t *testing.T) {
	dir := t.TempDir()
	wav := filepath.Join(dir, "song.wav")
	if err := os.WriteFile(wav, append([]byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"), make([]byte, 64)...), 0o644); err != nil {
		t.Fatal(err)
	}

	// An unknown option: one line, two dashes, the closest name, --help.
	_, errOut, code := runCmd(t, speakerbox(t, nil, "play", "--nme", "x", wav))
	if code != exitUsage || strings.TrimSpace(errOut) != `speakerbox play: unknown option --nme (did you mean --name?); "speakerbox play --help" lists the options` {
		t.Errorf("unknown option: exit %d, stderr %q", code, errOut)
	}
	// Flags after the file reach the flag parser, not the file opener:
	// here a WAV file, said once, as what it is, exit 2.
	_, errOut, code = runCmd(t, speakerbox(t, nil, "play", wav, "--volume", "30", "--output", "null"))
	if code != exitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "not an Ogg Vorbis file: it is a WAV file (RIFF/WAVE)") ||
		strings.Contains(errOut, "--volume") || strings.Contains(errOut, "damaged") {
		t.Errorf("WAV file: exit %d, stderr %q", code, errOut)
	}
	// A missing file is a command-line error too.
	_, errOut, code = runCmd(t, speakerbox(t, nil, "play", filepath.Join(dir, "missing.ogg"), "--output", "null"))
	if code != exitUsage || !strings.Contains(errOut, "missing.ogg: no such file") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
	// -- ends the options: "--volume" is then a file name.
	_, errOut, code = runCmd(t, speakerbox(t, nil, "play", "--output", "null", "--", "--volume"))
	if code != exitUsage || !strings.Contains(errOut, "open --volume: no such file") {
		t.Errorf("after --: exit %d, stderr %q", code, errOut)
	}
	// Configuration keys after a doctor topic (the report's wording is
	// doctor's business; that the key arrived is ours).
	out, errOut, code := runCmd(t, speakerbox(t, nil, "doctor", "audio", "--audio.output", "null"))
	if code != 0 || !strings.Contains(out, "null") || strings.Contains(errOut, "option") {
		t.Errorf("doctor audio --audio.output null: exit %d, %q %q", code, out, errOut)
	}
	// A topic's own options still reach it, and its mistakes say so.
	_, errOut, code = runCmd(t, speakerbox(t, nil, "doctor", "gpio", "--lin", "x"))
	if code != exitUsage || !strings.Contains(errOut, "speakerbox doctor gpio: unknown option --lin (did you mean --line?)") || strings.Contains(errOut, "speakerbox: speakerbox") {
		t.Errorf("doctor gpio --lin: exit %d, %q", code, errOut)
	}
	out, _, code = runCmd(t, speakerbox(t, nil, "doctor", "gpio", "--help"))
	if code != 0 || !strings.Contains(out, "  --blink\n") || !strings.Contains(out, "  --line string\n") {
		t.Errorf("doctor gpio --help: exit %d, %q", code, out)
	}
	// --help anywhere, and a bool config key set false after the command.
	out, _, code = runCmd(t, speakerbox(t, nil, "play", "x.ogg", "--help"))
	if code != 0 || !strings.Contains(out, "--volume") || !strings.Contains(out, "Options may also follow the arguments") {
		t.Errorf("play x.ogg --help: exit %d, %q", code, out)
	}
	out, errOut, code = runCmd(t, speakerbox(t, nil, "run", "--print-config", "--audio.dither=false"))
	if code != 0 || !strings.Contains(out, "audio.dither: false") {
		t.Errorf("run --print-config --audio.dither=false: exit %d, %q %q", code, out, errOut)
	}
}

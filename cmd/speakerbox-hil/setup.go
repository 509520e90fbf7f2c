package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// hostTools maps each program the harness runs on the host to the Debian
// package that provides it. They are also in .ci/apt-packages; installing
// them here as well keeps `make hil` working on a machine set up by hand.
var hostTools = []struct{ bin, pkg string }{
	{"qemu-system-x86_64", "qemu-system-x86"},
	{"qemu-system-aarch64", "qemu-system-arm"},
	{"busybox", "busybox-static"},
	{"sox", "sox"},
	{"oggenc", "vorbis-tools"},
	{"dpkg-deb", "dpkg"},
	{"apt-get", "apt"},
	{"mcopy", "mtools"}, // the cards' boot partitions
}

// ensureTools installs the Debian packages of any missing host tool.
func ensureTools(ctx context.Context, logf func(string, ...any)) error {
	var missing []string
	for _, t := range hostTools {
		if _, err := exec.LookPath(t.bin); err != nil {
			missing = append(missing, t.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("missing host packages %s; install them (apt-get install %s) or run as root",
			strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	logf("installing %s", strings.Join(missing, " "))
	if out, err := exec.CommandContext(ctx, "apt-get", "update", "-q").CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %v: %s", err, tail(string(out), 5))
	}
	args := append([]string{"install", "-y", "-q", "--no-install-recommends"}, missing...)
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install %s: %v: %s", strings.Join(missing, " "), err, tail(string(out), 5))
	}
	return nil
}

// media generates the test material: music-like stereo (a chord on the
// left, a sweep on the right, a noise burst, so no two frames repeat and
// any slip shows), encoded by the reference encoder.
type media struct {
	Ogg     string // Ogg Vorbis, 44.1 kHz stereo
	SelfWAV string // S16 WAV of raw synthesis for the harness self-test
}

func makeMedia(ctx context.Context, dir string) (media, error) {
	m := media{Ogg: filepath.Join(dir, "tone.ogg"), SelfWAV: filepath.Join(dir, "self.wav")}
	raw := filepath.Join(dir, "tone.wav")
	steps := [][]string{
		{"sox", "-q", "-n", "-r", "44100", "-c", "2", "-b", "16", raw,
			"synth", "2.5", "sine", "220-1760", "sine", "330", "synth", "2.5", "sine", "amod", "3", "50",
			"synth", "2.5", "pinknoise", "mix", "vol", "0.6",
			// snd-aloop drops what it has not yet forwarded when playback
			// stops; 300 ms of digital silence at the end keep that loss
			// out of the music.
			"pad", "0", "0.3"},
		{"oggenc", "-Q", "-q", "5", "-s", "1234", "-o", m.Ogg, raw},
		{"sox", "-q", "-n", "-r", "44100", "-c", "2", "-b", "16", m.SelfWAV,
			"synth", "1", "sine", "441", "sine", "660", "vol", "0.5"},
	}
	for _, s := range steps {
		if out, err := exec.CommandContext(ctx, s[0], s[1:]...).CombinedOutput(); err != nil {
			return media{}, fmt.Errorf("%s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return m, nil
}

// hostRef runs the host's speakerbox with the wav sink on the same file
// and settings the guest will use with ALSA: what the capture must equal.
func hostRef(ctx context.Context, bin, ogg, out string, args []string) error {
	// Options first: Go's flag package stops at the first operand.
	full := append([]string{"play"}, args...)
	full = append(full, "--output", "wav", "--audio.path", out, ogg)
	cmd := exec.CommandContext(ctx, bin, full...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("host reference `%s play --output wav` failed (%v): %s", filepath.Base(bin), err, firstLine(b.String()))
	}
	return nil
}

// buildAgent cross-compiles the guest agent.
func buildAgent(ctx context.Context, goarch, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/speakerbox-hil/guest")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build guest agent for %s: %v: %s", goarch, err, b)
	}
	return nil
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}

// firstLine is the first non-empty line of a program's output.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return "(no output)"
}

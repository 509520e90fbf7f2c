package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gen2brain/alsa"

	"github.com/speakerbox/speakerbox/audio/alsasink"
	"github.com/speakerbox/speakerbox/audio/alsasink/alsactl"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
)

func TestALSAReport(t *testing.T) {
	probe := alsasink.ParseCards([]byte(" 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones\n 1 [Loopback       ]: Loopback - Loopback\n"))
	cards := []alsasink.CardReport{
		{
			Card: probe[0],
			PCMs: []alsasink.PCMReport{{
				PCMDevice: alsasink.PCMDevice{Address: alsasink.Address{Card: 0, Device: 0}, Name: "bcm2835 Headphones"},
				Err:       syscall.EBUSY, Owner: "pid 77 (speakerbox)",
			}},
			Controls: []alsactl.Info{
				{ID: alsactl.ID{Name: "PCM Playback Volume"}, Type: alsactl.TypeInteger, Access: alsactl.AccessRead | alsactl.AccessWrite, Count: 1, Min: -10239, Max: 400},
				{ID: alsactl.ID{Name: "PCM Playback Switch"}, Type: alsactl.TypeBoolean, Access: alsactl.AccessRead | alsactl.AccessWrite, Count: 1, Max: 1},
				{ID: alsactl.ID{Name: "PCM Slave Rate", Device: 1}, Type: alsactl.TypeInteger, Access: alsactl.AccessRead, Count: 1, Max: 192000},
			},
		},
		{
			Card: probe[1],
			PCMs: []alsasink.PCMReport{{
				PCMDevice: alsasink.PCMDevice{Address: alsasink.Address{Card: 1, Device: 0}, Name: "Loopback PCM"},
				Caps: alsasink.Caps{
					Formats:  []alsa.PcmFormat{alsa.SNDRV_PCM_FORMAT_S16_LE, alsa.SNDRV_PCM_FORMAT_S32_LE},
					Rates:    alsasink.Range{Min: 48000, Max: 48000},
					Channels: alsasink.Range{Min: 1, Max: 32}, PeriodSize: alsasink.Range{Min: 16, Max: 65536},
					Periods: alsasink.Range{Min: 1, Max: 1024}, BufferSize: alsasink.Range{Min: 441, Max: 44100},
					Interleaved: true,
				},
			}},
			ControlsErr: errors.New("permission denied"),
		},
	}
	var b bytes.Buffer
	writeALSAReport(&b, cards, nil)
	out := b.String()
	for _, want := range []string{
		`card 0 "Headphones": bcm2835 Headphones`,
		"hw:0,0 (hw:Headphones,0) bcm2835 Headphones",
		"busy: held by pid 77 (speakerbox)",
		`"PCM Playback Volume" INTEGER x1 -10239..400 (audio.mixer: "PCM")`,
		`"PCM Playback Switch" BOOLEAN x1`,
		`"PCM Slave Rate" [device 1 subdevice 0 index 0] INTEGER x1 0..192000 read-only`,
		"hw:1,0 (hw:Loopback,0) Loopback PCM",
		"formats:  S16_LE, S32_LE",
		"rates:    48000 Hz",
		"channels: 1-32",
		"buffer:   441-44100 frames (10ms to 1s at 44.1 kHz)",
		"cannot take 44.1 kHz",
		"mixer controls: cannot list: permission denied",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckOutputChangesNoFile(t *testing.T) {
	dir := t.TempDir()
	wav := filepath.Join(dir, "keep.wav")
	os.WriteFile(wav, []byte("precious"), 0o644)
	raw := filepath.Join(dir, "keep.raw")
	os.WriteFile(raw, []byte("precious"), 0o644)
	for _, c := range []struct {
		out, path, want string
	}{
		{"wav", wav, "OK: WAV file"},
		{"pipe", raw, "not a FIFO"},
		{"null", "-", "OK: plays nothing"},
	} {
		cfg := &config.Config{Audio: config.Audio{Output: c.out, Path: c.path, Format: "auto"}}
		var b bytes.Buffer
		if err := checkOutput(context.Background(), &b, cfg); err != nil {
			t.Fatalf("%s: %v", c.out, err)
		}
		if !strings.Contains(b.String(), c.want) {
			t.Errorf("%s: %q lacks %q", c.out, b.String(), c.want)
		}
	}
	for _, p := range []string{wav, raw} {
		if b, _ := os.ReadFile(p); string(b) != "precious" {
			t.Errorf("doctor changed %s", p)
		}
	}
	cfg := &config.Config{Audio: config.Audio{Output: "wav", Path: filepath.Join(dir, "nodir", "x.wav"), Format: "auto"}}
	if err := checkOutput(context.Background(), &bytes.Buffer{}, cfg); err == nil {
		t.Error("wav into a missing directory passed")
	}
}

// Package config holds Speakerbox's configuration: one table of keys, each
// settable from a YAML file, an environment variable SPEAKERBOX_<KEY> and a
// flag --<key>, with precedence flag > env > file > default; the keys the
// owner's web page changes are also read from settings.yaml in the state
// directory (SettingsPath), between the file and the environment. Every
// value is validated up front and every error names the key, the bad value,
// where it came from and what is allowed.
//
// YAML rather than TOML: the YAML decoder we use (gopkg.in/yaml.v3) exposes
// each node's line, so an error can point at file:line, and nested sections
// read naturally for the few groups we have (zeroconf, audio, gpio, hooks).
package config

import (
	"fmt"
	"time"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/receiver/connect"
)

// Config is the effective configuration of one run.
type Config struct {
	Name       string
	DeviceType string
	LogLevel   string
	Autoplay   string // auto, on, off; see ConnectAutoplay
	StateDir   string
	Zeroconf   Zeroconf
	Audio      Audio
	GPIO       GPIO
	Hooks      Hooks
	Time       Time
	API        API
}

// Time configures `speakerbox timesync`, the clock of a speaker without a
// battery-backed one.
type Time struct {
	Servers []string
}

// Zeroconf configures discovery and the ZeroConf login API.
type Zeroconf struct {
	Port         int
	Interfaces   []string
	Model        string
	AllowedUsers []string
	ResetForgets bool
	AddUserRate  int
}

// Audio configures playback and the output device.
type Audio struct {
	Output                 string
	Device                 string
	Path                   string
	Format                 string
	Mixer                  string
	Buffer                 time.Duration
	Period                 time.Duration
	KeepOutputOpen         bool
	Dither                 bool
	Bitrate                int
	InitialVolume          int
	MaxVolume              int
	VolumeCurve            string
	VolumeRangeDB          float64
	Normalisation          string
	NormalisationPregainDB float64
}

// SampleFormat is audio.format for the sinks and the player: 0 for "auto"
// (the sink chooses). Load has validated the name; a Config built by hand
// may hold anything, hence the error.
func (a Audio) SampleFormat() (audio.SampleFormat, error) {
	if a.Format == "" || a.Format == "auto" {
		return 0, nil
	}
	f, err := audio.ParseSampleFormat(a.Format)
	if err != nil {
		return 0, fmt.Errorf("audio.format: %w", err)
	}
	return f, nil
}

// Describe lists the keys that matter for the selected output, with their
// values: "audio.output pipe, audio.path "/tmp/snapfifo", audio.format auto".
func (a Audio) Describe() string {
	s := "audio.output " + a.Output
	switch a.Output {
	case "alsa":
		s += fmt.Sprintf(", audio.device %q, audio.format %s, audio.buffer %v, audio.period %v", a.Device, a.Format, a.Buffer, a.Period)
		if a.Mixer != "" {
			s += fmt.Sprintf(", audio.mixer %q", a.Mixer)
		} else {
			s += ", software volume"
		}
	case "pipe", "wav":
		s += fmt.Sprintf(", audio.path %q, audio.format %s", a.Path, a.Format)
	}
	return s
}

// ConnectAutoplay is the autoplay key for the Connect state machine: "on"
// and "off" override the account's setting, "auto" (and, for a Config
// built by hand, anything else) follows it.
func (c *Config) ConnectAutoplay() connect.Autoplay {
	switch c.Autoplay {
	case "on":
		return connect.AutoplayOn
	case "off":
		return connect.AutoplayOff
	}
	return connect.AutoplayFollowApp
}

// GPIO configures the amplifier relay.
type GPIO struct {
	RelayLine   string
	ActiveLow   bool
	Warmup      time.Duration
	IdleTimeout time.Duration
	MuteLine    string
}

// Hooks configures the commands run on player events.
type Hooks struct {
	OnEvent       string
	AmpOnCommand  string
	AmpOffCommand string
	Timeout       time.Duration
	Env           []string
}

// DeviceTypes returns the device classes Spotify's apps know, as used in
// getInfo's deviceType and by librespot's --device-type.
func DeviceTypes() []string {
	return []string{
		"computer", "tablet", "smartphone", "speaker", "tv", "avr", "stb", "audiodongle",
		"gameconsole", "castaudio", "castvideo", "automobile", "smartwatch", "chromebook",
		"carthing", "homething",
	}
}

package config

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/speakerbox/speakerbox/audio/alsasink"
)

type kind int

const (
	kString kind = iota
	kInt
	kBool
	kFloat
	kDuration
	kStrings
)

func (k kind) String() string {
	return [...]string{"a string", "an integer", "true or false", "a number", "a duration such as 500ms or 5m", "a list of strings"}[k]
}

// key describes one configuration key. The table below is the single place a
// key is declared: parsing, validation, flags, environment and --print-config
// all come from it.
type key struct {
	name   string
	kind   kind
	def    string // default, in flag syntax; "" for empty
	help   string
	secret bool
	field  func(c *Config) any // pointer to the field
	check  *validator          // nil: any value of the kind
}

// validator accepts or refuses a parsed value; allowed says what it accepts,
// for error messages and --help.
type validator struct {
	ok      func(v any) bool
	allowed string
	// problem, if set, says what is wrong with a refused value (default:
	// "not allowed" or "out of range").
	problem func(v any) string
}

func oneOf(allowed ...string) *validator {
	return &validator{
		ok:      func(v any) bool { return slices.Contains(allowed, v.(string)) },
		allowed: "one of " + strings.Join(allowed, ", "),
	}
}

func intRange(lo, hi int) *validator {
	return &validator{
		ok:      func(v any) bool { n := v.(int); return n >= lo && n <= hi },
		allowed: fmt.Sprintf("an integer from %d to %d", lo, hi),
	}
}

func intSet(allowed ...int) *validator {
	s := make([]string, len(allowed))
	for i, a := range allowed {
		s[i] = fmt.Sprint(a)
	}
	return &validator{
		ok:      func(v any) bool { return slices.Contains(allowed, v.(int)) },
		allowed: "one of " + strings.Join(s, ", "),
	}
}

func floatRange(lo, hi float64) *validator {
	return &validator{
		ok:      func(v any) bool { f := v.(float64); return f >= lo && f <= hi },
		allowed: fmt.Sprintf("a number from %g to %g", lo, hi),
	}
}

func durRange(lo, hi time.Duration, zeroOK bool) *validator {
	allowed := fmt.Sprintf("a duration from %s to %s", lo, hi)
	if zeroOK && lo > 0 {
		allowed = "0 (automatic) or " + allowed
	}
	return &validator{
		ok: func(v any) bool {
			d := v.(time.Duration)
			return (zeroOK && d == 0) || (d >= lo && d <= hi)
		},
		allowed: allowed,
	}
}

// deviceName: an mDNS instance name is one DNS label, at most 63 bytes.
var deviceName = &validator{
	ok: func(v any) bool {
		s := v.(string)
		return s != "" && len(s) <= 63 && !strings.ContainsAny(s, "\x00\n\r")
	},
	allowed: "a name of 1 to 63 bytes without control characters",
}

var envList = &validator{
	ok: func(v any) bool {
		for _, e := range v.([]string) {
			name, _, ok := strings.Cut(e, "=")
			if !ok || name == "" || strings.ContainsAny(name, " \t") {
				return false
			}
		}
		return true
	},
	allowed: "a list of NAME=value entries",
}

var lineName = &validator{
	ok:      func(v any) bool { return !strings.ContainsAny(v.(string), " \t\n") },
	allowed: "empty, a line name such as GPIO17, or chip:offset such as gpiochip0:17",
}

// alsaDevice: speakerbox opens the kernel's hardware devices itself, so an
// alsa-lib plugin name can never work; refusing it here says so before
// anything runs (the sink would only find out when the first track plays).
var alsaDevice = &validator{
	ok: func(v any) bool { return alsasink.CheckDeviceName(v.(string)) == nil },
	problem: func(v any) string {
		if alsasink.IsPluginName(v.(string)) {
			return "an alsa-lib plugin name, which speakerbox cannot open (it opens hardware devices directly)"
		}
		return "not an ALSA hardware device name"
	},
	allowed: `hw:CARD,DEV, hw:CARD or a card name, CARD being a card index or name (list them with "speakerbox doctor audio" or cat /proc/asound/cards); no alsa-lib plugins such as default, plughw or dmix`,
}

// ntpServers: at least one "host" or "host:port" (a DNS name or an IP
// address; port 1 to 65535).
var ntpServers = &validator{
	ok: func(v any) bool { return badNTPServer(v.([]string)) == "" },
	problem: func(v any) string {
		if p := badNTPServer(v.([]string)); p != "" {
			return p
		}
		return "not allowed"
	},
	allowed: "one or more host names or IP addresses, each with an optional :port",
}

func badNTPServer(servers []string) string {
	if len(servers) == 0 {
		return "no servers"
	}
	for _, s := range servers {
		host, port := s, ""
		if h, p, err := net.SplitHostPort(s); err == nil {
			host, port = h, p
		} else if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
			return fmt.Sprintf("%q is not host:port", s)
		}
		if port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return fmt.Sprintf("%q: port %q is not 1 to 65535", s, port)
			}
		}
		if net.ParseIP(host) == nil && !hostName(host) {
			return fmt.Sprintf("%q is not a host name or an IP address", s)
		}
	}
	return ""
}

// hostName: dot-separated labels of letters, digits and hyphens, each 1 to
// 63 bytes and not starting or ending with a hyphen; 253 bytes at most.
func hostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

var nonEmpty = &validator{
	ok:      func(v any) bool { return v.(string) != "" },
	allowed: "a non-empty string",
}

// keys returns the key table in the order --print-config and --help show it.
func keys() []key {
	return []key{
		{name: "name", kind: kString, help: "device name shown in Spotify apps (default: the host name)",
			field: func(c *Config) any { return &c.Name }, check: deviceName},
		{name: "device_type", kind: kString, def: "speaker", help: "device class shown in Spotify apps",
			field: func(c *Config) any { return &c.DeviceType }, check: oneOf(DeviceTypes()...)},
		{name: "log_level", kind: kString, def: "info", help: "log level",
			field: func(c *Config) any { return &c.LogLevel }, check: oneOf("debug", "info", "warn", "error")},
		{name: "autoplay", kind: kString, def: "auto", help: "play similar music when a playlist or album ends: auto follows the app's autoplay setting, on and off override it",
			field: func(c *Config) any { return &c.Autoplay }, check: oneOf("auto", "on", "off")},
		{name: "state_dir", kind: kString, help: "directory for the device id, credentials and the settings saved from the web page (default: $STATE_DIRECTORY, /var/lib/speakerbox as root, else ~/.local/state/speakerbox)",
			field: func(c *Config) any { return &c.StateDir }},

		{name: "zeroconf.port", kind: kInt, def: "0", help: "TCP port of the ZeroConf HTTP API (0: any free port)",
			field: func(c *Config) any { return &c.Zeroconf.Port }, check: intRange(0, 65535)},
		{name: "zeroconf.interfaces", kind: kStrings, help: "network interfaces to advertise and listen on (empty: every up, multicast-capable, non-loopback interface)",
			field: func(c *Config) any { return &c.Zeroconf.Interfaces }},
		{name: "zeroconf.model", kind: kString, def: "librespot", help: "modelDisplayName in getInfo (controllers such as SpotifyPlus send stored credentials only to librespot models)",
			field: func(c *Config) any { return &c.Zeroconf.Model }, check: nonEmpty},
		{name: "zeroconf.allowed_users", kind: kStrings, help: "Spotify usernames allowed to take the speaker over (empty: anyone on the network)",
			field: func(c *Config) any { return &c.Zeroconf.AllowedUsers }},
		{name: "zeroconf.reset_forgets", kind: kBool, def: "false", help: "resetUsers also deletes the stored credentials of the user it logs out",
			field: func(c *Config) any { return &c.Zeroconf.ResetForgets }},
		{name: "zeroconf.adduser_rate", kind: kInt, def: "10", help: "addUser attempts allowed per minute from one source address",
			field: func(c *Config) any { return &c.Zeroconf.AddUserRate }, check: intRange(1, 1000)},

		{name: "audio.output", kind: kString, def: "alsa", help: "audio sink",
			field: func(c *Config) any { return &c.Audio.Output }, check: oneOf("alsa", "pipe", "wav", "null")},
		{name: "audio.device", kind: kString, def: "hw:0,0", help: `ALSA hardware device: "hw:CARD,DEV" (card index or name) or a card name`,
			field: func(c *Config) any { return &c.Audio.Device }, check: alsaDevice},
		{name: "audio.path", kind: kString, def: "-", help: `file or FIFO for the pipe and wav outputs ("-": standard output)`,
			field: func(c *Config) any { return &c.Audio.Path }, check: nonEmpty},
		{name: "audio.format", kind: kString, def: "auto", help: "sample format sent to the device",
			field: func(c *Config) any { return &c.Audio.Format }, check: oneOf("auto", "S16_LE", "S24_LE", "S24_3LE", "S32_LE", "FLOAT_LE")},
		{name: "audio.mixer", kind: kString, help: "ALSA mixer control for hardware volume (empty: software volume)",
			field: func(c *Config) any { return &c.Audio.Mixer }},
		{name: "audio.buffer", kind: kDuration, def: "500ms", help: "output buffer time (about 1s is safer on a Pi Zero)",
			field: func(c *Config) any { return &c.Audio.Buffer }, check: durRange(100*time.Millisecond, 5*time.Second, false)},
		{name: "audio.period", kind: kDuration, def: "0s", help: "ALSA period time (0: automatic, about 20ms)",
			field: func(c *Config) any { return &c.Audio.Period }, check: durRange(time.Millisecond, time.Second, true)},
		{name: "audio.keep_output_open", kind: kBool, def: "true", help: "while the amplifier is on, keep the device running on silence when paused (avoids pops)",
			field: func(c *Config) any { return &c.Audio.KeepOutputOpen }},
		{name: "audio.dither", kind: kBool, def: "true", help: "TPDF dither when converting to 16 bits",
			field: func(c *Config) any { return &c.Audio.Dither }},
		{name: "audio.bitrate", kind: kInt, def: "160", help: "Spotify stream bitrate in kbps",
			field: func(c *Config) any { return &c.Audio.Bitrate }, check: intSet(96, 160, 320)},
		{name: "audio.initial_volume", kind: kInt, def: "50", help: "volume at start, in percent",
			field: func(c *Config) any { return &c.Audio.InitialVolume }, check: intRange(0, 100)},
		{name: "audio.max_volume", kind: kInt, def: "100", help: "upper limit of the volume, in percent of full scale",
			field: func(c *Config) any { return &c.Audio.MaxVolume }, check: intRange(0, 100)},
		{name: "audio.volume_curve", kind: kString, def: "log", help: "how Spotify's volume slider maps to gain",
			field: func(c *Config) any { return &c.Audio.VolumeCurve }, check: oneOf("log", "cubic", "linear", "fixed")},
		{name: "audio.volume_range_db", kind: kFloat, def: "60", help: "range of the log volume curve in dB",
			field: func(c *Config) any { return &c.Audio.VolumeRangeDB }, check: floatRange(10, 100)},
		{name: "audio.normalisation", kind: kString, def: "auto", help: "loudness normalisation (auto: album gain inside an album or playlist played in order, else track gain)",
			field: func(c *Config) any { return &c.Audio.Normalisation }, check: oneOf("off", "track", "album", "auto")},
		{name: "audio.normalisation_pregain_db", kind: kFloat, def: "0", help: "gain added to the normalisation gain, in dB",
			field: func(c *Config) any { return &c.Audio.NormalisationPregainDB }, check: floatRange(-20, 20)},

		{name: "gpio.relay_line", kind: kString, help: "GPIO line of the amplifier relay: GPIO17, or chip:offset such as gpiochip0:17 (empty: no relay)",
			field: func(c *Config) any { return &c.GPIO.RelayLine }, check: lineName},
		{name: "gpio.active_low", kind: kBool, def: "false", help: "the relay is on when the line is low",
			field: func(c *Config) any { return &c.GPIO.ActiveLow }},
		{name: "gpio.warmup", kind: kDuration, def: "500ms", help: "time between switching the amplifier on and the first sound",
			field: func(c *Config) any { return &c.GPIO.Warmup }, check: durRange(0, 10*time.Second, true)},
		{name: "gpio.idle_timeout", kind: kDuration, def: "5m", help: "time after pause or stop before the amplifier is switched off",
			field: func(c *Config) any { return &c.GPIO.IdleTimeout }, check: durRange(0, 24*time.Hour, true)},
		{name: "gpio.mute_line", kind: kString, help: "optional GPIO line that mutes the amplifier before it is switched off",
			field: func(c *Config) any { return &c.GPIO.MuteLine }, check: lineName},

		{name: "hooks.on_event", kind: kString, help: "command run (by /bin/sh -c) on player events, librespot --onevent compatible",
			field: func(c *Config) any { return &c.Hooks.OnEvent }},
		{name: "hooks.amp_on_command", kind: kString, help: "command that switches the amplifier on (instead of, or beside, a GPIO line)",
			field: func(c *Config) any { return &c.Hooks.AmpOnCommand }},
		{name: "hooks.amp_off_command", kind: kString, help: "command that switches the amplifier off",
			field: func(c *Config) any { return &c.Hooks.AmpOffCommand }},
		{name: "hooks.timeout", kind: kDuration, def: "10s", help: "a hook still running after this is killed",
			field: func(c *Config) any { return &c.Hooks.Timeout }, check: durRange(100*time.Millisecond, 10*time.Minute, false)},
		{name: "hooks.env", kind: kStrings, secret: true, help: "extra environment for hooks, NAME=value (values are masked in --print-config)",
			field: func(c *Config) any { return &c.Hooks.Env }, check: envList},

		{name: "time.servers", kind: kStrings, def: "0.pool.ntp.org,1.pool.ntp.org,2.pool.ntp.org", help: "NTP servers speakerbox timesync asks, in order",
			field: func(c *Config) any { return &c.Time.Servers }, check: ntpServers},
		{name: "api.address", kind: kString, def: DefaultAPIAddress, help: `host:port of the local status and control API ("off" or empty: no API; beyond loopback it needs api.token)`,
			field: func(c *Config) any { return &c.API.Address }, check: apiAddress},
		{name: "api.token", kind: kString, secret: true, help: "bearer token the local API requires of every request (masked in --print-config; required when api.address is beyond loopback)",
			field: func(c *Config) any { return &c.API.Token }, check: apiToken},
	}
}

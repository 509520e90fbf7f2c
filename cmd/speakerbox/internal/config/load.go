package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable Speakerbox reads.
const EnvPrefix = "SPEAKERBOX_"

// configEnv names the config file through the environment.
const configEnv = EnvPrefix + "CONFIG"

// Error is a configuration error: which key, what value, from where, and
// what would have been accepted. The command line exits 2 on it.
type Error struct {
	Key     string // dotted key, or "" when the problem is the file itself
	Value   string
	Source  string // "file.yaml:12", "flag --key", "env SPEAKERBOX_KEY"
	Problem string // what is wrong, e.g. "out of range", "unknown key"
	Allowed string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.Key != "" {
		fmt.Fprintf(&b, "%s: ", e.Key)
	}
	b.WriteString(e.Problem)
	if e.Value != "" || e.Key != "" {
		fmt.Fprintf(&b, ": value %q", e.Value)
	}
	if e.Source != "" {
		fmt.Fprintf(&b, " (from %s)", e.Source)
	}
	if e.Allowed != "" {
		fmt.Fprintf(&b, "; allowed: %s", e.Allowed)
	}
	return b.String()
}

// Env is what Load reads from the process besides flags.
type Env struct {
	Environ           []string // os.Environ()
	Hostname          string   // default device name
	DefaultStateDir   string
	DefaultConfigPath string // read when it exists and no other file is named
}

// Set is the key table bound to one command line.
type Set struct {
	keys       []key
	flags      map[string]string // raw flag values, by key
	configPath string
}

// NewSet returns the key table with no values set.
func NewSet() *Set { return &Set{keys: keys(), flags: map[string]string{}} }

// flagValue records a raw value given on the command line; it is parsed and
// validated with everything else in Load, so that errors look the same
// wherever the value came from.
type flagValue struct {
	s *Set
	k *key
}

func (f *flagValue) String() string {
	if f == nil || f.s == nil {
		return ""
	}
	return f.s.flags[f.k.name]
}
func (f *flagValue) Set(v string) error { f.s.flags[f.k.name] = v; return nil }
func (f *flagValue) IsBoolFlag() bool   { return f.k.kind == kBool }

// RegisterFlags adds --config and one flag per key to fs.
func (s *Set) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.configPath, "config", "", "configuration file (YAML; also "+configEnv+")")
	for i := range s.keys {
		k := &s.keys[i]
		help := k.help
		if k.check != nil {
			help += " [" + k.check.allowed + "]"
		}
		if k.def != "" {
			help += " (default " + k.def + ")"
		}
		fs.Var(&flagValue{s: s, k: k}, k.name, help)
	}
}

// Loaded is the effective configuration and where each value came from.
type Loaded struct {
	Config *Config
	File   string // config file read, or ""
	// Settings is the page settings file read (SettingsPath of the state
	// directory), or "" when there was none.
	Settings string
	sources  map[string]string
	keys     []key
}

// Source tells where the value of key came from.
func (l *Loaded) Source(key string) string { return l.sources[key] }

// EnvName is the environment variable of a key: SPEAKERBOX_AUDIO_DEVICE.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Load builds the effective configuration: defaults, then the file, then
// the settings saved from the web page (SettingsPath of the state
// directory), then the environment, then flags. The first bad value stops
// it with an *Error.
func (s *Set) Load(env Env) (*Loaded, error) {
	c := &Config{}
	l := &Loaded{Config: c, sources: map[string]string{}, keys: s.keys}
	byName := map[string]*key{}
	for i := range s.keys {
		k := &s.keys[i]
		byName[k.name] = k
		def := k.def
		switch k.name {
		case "name":
			def = defaultName(env.Hostname)
		case "state_dir":
			def = env.DefaultStateDir
		}
		if err := assign(c, k, def, "default"); err != nil {
			return nil, fmt.Errorf("built-in default of %s: %w", k.name, err)
		}
		l.sources[k.name] = "default"
	}

	envMap := map[string]string{}
	for _, kv := range env.Environ {
		name, val, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) {
			envMap[name] = val
		}
	}

	path, explicit := s.configPath, true
	if path == "" {
		path = envMap[configEnv]
	}
	if path == "" {
		path, explicit = env.DefaultConfigPath, false
	}
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			l.File = path
			if err := loadFile(c, l, byName, path, data); err != nil {
				return nil, err
			}
		case errors.Is(err, fs.ErrNotExist) && !explicit:
			// The default file is optional: no file means defaults.
		default:
			return nil, &Error{Problem: "cannot read configuration file", Source: path, Allowed: err.Error()}
		}
	}

	if err := s.applyEnvAndFlags(c, l, envMap); err != nil {
		return nil, err
	}
	// The page's settings live in the state directory, which is itself a
	// key: only now, with the file, the environment and the flags read, is
	// it known. The settings go over the file; the environment and the
	// flags are applied again so that they still win.
	if c.StateDir != "" {
		path := SettingsPath(c.StateDir)
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			l.Settings = path
			if err := loadSettings(c, l, byName, path, data); err != nil {
				return nil, err
			}
			if err := s.applyEnvAndFlags(c, l, envMap); err != nil {
				return nil, err
			}
		case errors.Is(err, fs.ErrNotExist):
			// Nothing saved from the page yet.
		default:
			return nil, &Error{Problem: "cannot read the page settings file", Source: path, Allowed: err.Error()}
		}
	}
	if err := Validate(c, l.Source); err != nil {
		return nil, err
	}
	return l, nil
}

// applyEnvAndFlags assigns the SPEAKERBOX_* variables, then the flags.
func (s *Set) applyEnvAndFlags(c *Config, l *Loaded, envMap map[string]string) error {
	envNames := make([]string, 0, len(envMap))
	for name := range envMap {
		envNames = append(envNames, name)
	}
	sort.Strings(envNames)
	for _, name := range envNames {
		if name == configEnv {
			continue
		}
		k := findEnv(s.keys, name)
		if k == nil {
			return &Error{Problem: "unknown environment variable", Value: envMap[name], Source: "env " + name,
				Allowed: "SPEAKERBOX_CONFIG or one of " + strings.Join(envNamesOf(s.keys), ", ")}
		}
		src := "env " + name
		if err := assign(c, k, envMap[name], src); err != nil {
			return err
		}
		l.sources[k.name] = src
	}
	for i := range s.keys {
		k := &s.keys[i]
		raw, ok := s.flags[k.name]
		if !ok {
			continue
		}
		src := "flag --" + k.name
		if err := assign(c, k, raw, src); err != nil {
			return err
		}
		l.sources[k.name] = src
	}
	return nil
}

// Validate checks the rules that involve more than one key; source tells
// where a key's value came from. Load calls it; a command that changes the
// configuration after Load (play --output) calls it again.
func Validate(c *Config, source func(key string) string) error {
	if a := c.Audio; a.Mixer != "" && a.Output != "alsa" {
		return &Error{Key: "audio.mixer", Value: a.Mixer, Source: source("audio.mixer"),
			Problem: fmt.Sprintf("a hardware mixer needs audio.output alsa, and audio.output is %s (from %s)", a.Output, source("audio.output")),
			Allowed: "empty (software volume) unless audio.output is alsa"}
	}
	// The ZeroConf API listens on every advertised address, loopback
	// among them when zeroconf.interfaces names lo: the local API on the
	// same port would fail to bind at start, or take the phones' port.
	if c.API.Enabled() && c.Zeroconf.Port != 0 {
		if _, port, err := net.SplitHostPort(c.API.Address); err == nil && port == strconv.Itoa(c.Zeroconf.Port) {
			return &Error{Key: "api.address", Value: c.API.Address, Source: source("api.address"),
				Problem: fmt.Sprintf("its port is zeroconf.port's (%d, from %s)", c.Zeroconf.Port, source("zeroconf.port")),
				Allowed: "a port other than zeroconf.port, such as the default " + DefaultAPIAddress}
		}
	}
	return nil
}

func defaultName(host string) string {
	if host == "" || len(host) > 63 {
		return "Speakerbox"
	}
	return host
}

func findEnv(ks []key, name string) *key {
	for i := range ks {
		if EnvName(ks[i].name) == name {
			return &ks[i]
		}
	}
	return nil
}

func envNamesOf(ks []key) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = EnvName(k.name)
	}
	return out
}

// assign parses raw (flag or environment syntax) into the key's field.
func assign(c *Config, k *key, raw, src string) error {
	v, err := parse(k, raw)
	if err != nil {
		return &Error{Key: k.name, Value: shown(k, raw), Source: src, Problem: "not " + k.kind.String(), Allowed: allowed(k)}
	}
	return store(c, k, v, raw, src)
}

func store(c *Config, k *key, v any, raw, src string) error {
	if k.check != nil && !k.check.ok(v) {
		problem := "not allowed"
		switch {
		case k.check.problem != nil:
			problem = k.check.problem(v)
		case k.kind == kInt, k.kind == kFloat, k.kind == kDuration:
			problem = "out of range"
		}
		return &Error{Key: k.name, Value: shown(k, raw), Source: src, Problem: problem, Allowed: k.check.allowed}
	}
	switch p := k.field(c).(type) {
	case *string:
		*p = v.(string)
	case *int:
		*p = v.(int)
	case *bool:
		*p = v.(bool)
	case *float64:
		*p = v.(float64)
	case *time.Duration:
		*p = v.(time.Duration)
	case *[]string:
		*p = v.([]string)
	default:
		panic(fmt.Sprintf("config key %s: field of unsupported type %T", k.name, p))
	}
	return nil
}

func allowed(k *key) string {
	if k.check != nil {
		return k.check.allowed
	}
	return k.kind.String()
}

// shown is how a value appears in an error: secrets never reach the terminal
// or a log.
func shown(k *key, raw string) string {
	if k.secret {
		return "***"
	}
	return raw
}

func parse(k *key, raw string) (any, error) {
	raw = strings.TrimSpace(raw)
	switch k.kind {
	case kString:
		return raw, nil
	case kInt:
		return strconv.Atoi(raw)
	case kBool:
		return strconv.ParseBool(raw)
	case kFloat:
		return strconv.ParseFloat(raw, 64)
	case kDuration:
		return time.ParseDuration(raw)
	case kStrings:
		if raw == "" {
			return []string(nil), nil
		}
		var out []string
		for _, f := range strings.Split(raw, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown kind %d", k.kind)
}

// loadFile reads the YAML file. Sections (zeroconf, audio, gpio, hooks) are
// mappings; everything else is a key. Values must have the key's YAML type:
// `initial_volume: "50"` is an error, not a silent conversion.
func loadFile(c *Config, l *Loaded, byName map[string]*key, path string, data []byte) error {
	return loadYAML(c, l, byName, path, data, nil)
}

// loadSettings reads the page settings file: the configuration file's
// shape, holding only the keys the page may change (SettingKeys).
func loadSettings(c *Config, l *Loaded, byName map[string]*key, path string, data []byte) error {
	only := map[string]*key{}
	for _, name := range SettingKeys() {
		only[name] = byName[name]
	}
	return loadYAML(c, l, only, path, data, byName)
}

// loadYAML reads a YAML configuration of the keys in byName; all, when not
// nil, is every key, so that a key that exists but is not allowed here is
// named as such rather than as unknown.
func loadYAML(c *Config, l *Loaded, byName map[string]*key, path string, data []byte, all map[string]*key) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file is a valid, empty configuration
		}
		return &Error{Problem: "not valid YAML", Source: path, Allowed: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return &Error{Problem: "the file must be a mapping of keys to values", Source: fmt.Sprintf("%s:%d", path, root.Line)}
	}
	return walk(c, l, byName, all, path, "", root)
}

func walk(c *Config, l *Loaded, byName, all map[string]*key, path, prefix string, m *yaml.Node) error {
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, vn := m.Content[i], m.Content[i+1]
		name := prefix + kn.Value
		src := fmt.Sprintf("%s:%d", path, kn.Line)
		if seen[name] {
			return &Error{Key: name, Value: vn.Value, Source: src, Problem: "key given twice"}
		}
		seen[name] = true
		k, ok := byName[name]
		if !ok {
			if prefix == "" && vn.Kind == yaml.MappingNode && isSection(byName, name) {
				if err := walk(c, l, byName, all, path, name+".", vn); err != nil {
					return err
				}
				continue
			}
			if all != nil && (all[name] != nil || isSection(all, name)) {
				v := scalar(vn)
				if k := all[name]; k != nil {
					v = shown(k, v)
				}
				return &Error{Key: name, Value: v, Source: src, Problem: "not a setting the web page can change, so not allowed in this file",
					Allowed: "only " + strings.Join(SettingKeys(), ", ") + "; set it in the configuration file"}
			}
			return &Error{Key: name, Value: scalar(vn), Source: src, Problem: "unknown key", Allowed: knownKeys(byName, prefix)}
		}
		v, err := fromNode(k, vn)
		if err != nil {
			return &Error{Key: name, Value: shown(k, scalar(vn)), Source: src, Problem: "not " + k.kind.String(), Allowed: allowed(k)}
		}
		if err := store(c, k, v, scalar(vn), src); err != nil {
			return err
		}
		l.sources[name] = src
	}
	return nil
}

func isSection(byName map[string]*key, name string) bool {
	for n := range byName {
		if strings.HasPrefix(n, name+".") {
			return true
		}
	}
	return false
}

func knownKeys(byName map[string]*key, prefix string) string {
	set := map[string]bool{}
	for n := range byName {
		if !strings.HasPrefix(n, prefix) {
			continue
		}
		rest := strings.TrimPrefix(n, prefix)
		if sec, _, ok := strings.Cut(rest, "."); ok {
			set[sec+" (section)"] = true
		} else {
			set[rest] = true
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	where := "at the top level"
	if prefix != "" {
		where = "in " + strings.TrimSuffix(prefix, ".")
	}
	return where + ": " + strings.Join(names, ", ")
}

func scalar(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value
	case yaml.SequenceNode:
		return "[list]"
	case yaml.MappingNode:
		return "{mapping}"
	}
	return ""
}

func fromNode(k *key, n *yaml.Node) (any, error) {
	bad := errors.New("wrong type")
	if k.kind == kStrings {
		if n.Kind != yaml.SequenceNode {
			return nil, bad
		}
		out := make([]string, 0, len(n.Content))
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode || e.Tag == "!!null" {
				return nil, bad
			}
			out = append(out, e.Value)
		}
		return out, nil
	}
	if n.Kind != yaml.ScalarNode {
		return nil, bad
	}
	tag := n.ShortTag()
	switch k.kind {
	case kString:
		if tag == "!!null" {
			return "", nil
		}
		if tag != "!!str" && tag != "!!int" && tag != "!!float" {
			return nil, bad
		}
		return n.Value, nil
	case kInt:
		if tag != "!!int" {
			return nil, bad
		}
		return strconv.Atoi(n.Value)
	case kBool:
		if tag != "!!bool" {
			return nil, bad
		}
		return strconv.ParseBool(n.Value)
	case kFloat:
		if tag != "!!int" && tag != "!!float" {
			return nil, bad
		}
		return strconv.ParseFloat(n.Value, 64)
	case kDuration:
		if tag == "!!int" && n.Value == "0" {
			return time.Duration(0), nil
		}
		if tag != "!!str" {
			return nil, bad
		}
		return time.ParseDuration(n.Value)
	}
	return nil, bad
}

// Print writes the effective configuration as YAML-style key: value lines
// with the source of each value, secrets masked.
func (l *Loaded) Print(w io.Writer) {
	if l.File != "" {
		fmt.Fprintf(w, "# configuration file: %s\n", l.File)
	} else {
		fmt.Fprintf(w, "# no configuration file: defaults, environment and flags only\n")
	}
	if l.Settings != "" {
		fmt.Fprintf(w, "# settings saved from the web page: %s (over the file; the environment and flags win)\n", l.Settings)
	}
	c := l.Config
	for i := range l.keys {
		k := &l.keys[i]
		fmt.Fprintf(w, "%s: %s  # %s\n", k.name, formatValue(k, k.field(c)), l.sources[k.name])
	}
}

func formatValue(k *key, p any) string {
	switch v := p.(type) {
	case *string:
		if k.secret && *v != "" {
			return `"***"`
		}
		return strconv.Quote(*v)
	case *int:
		return strconv.Itoa(*v)
	case *bool:
		return strconv.FormatBool(*v)
	case *float64:
		return strconv.FormatFloat(*v, 'g', -1, 64)
	case *time.Duration:
		return v.String()
	case *[]string:
		parts := make([]string, len(*v))
		for i, s := range *v {
			if k.secret {
				name, _, _ := strings.Cut(s, "=")
				s = name + "=***"
			}
			parts[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return "?"
}

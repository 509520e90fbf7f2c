package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/speakerbox/speakerbox/internal/statedir"
)

// SettingKeys are the keys the owner's web page may change, in the order it
// shows them.
func SettingKeys() []string {
	return []string{"name", "audio.initial_volume", "audio.max_volume",
		"gpio.relay_line", "gpio.active_low", "gpio.warmup", "gpio.idle_timeout", "autoplay"}
}

// editSource is where a value from the web page comes from, in errors.
const editSource = "web page"

// SettingsFile is the name of the file, in the state directory, that keeps
// the settings saved from the web page.
const SettingsFile = "settings.yaml"

// SettingsPath is the page settings file of a state directory.
func SettingsPath(stateDir string) string { return filepath.Join(stateDir, SettingsFile) }

// Editor changes settings while the speaker runs: every value gets the
// validation Load gives it (same *Error, same messages), and the changed
// keys are saved atomically in the page settings file of the state
// directory (SettingsPath), which Load reads over the configuration file.
// The configuration file itself is never written: on a speaker it is
// read-only (a read-only root, or systemd's ProtectSystem), while the state
// directory is the speaker's own. Nothing is written when any value is
// refused.
type Editor struct {
	path string // the page settings file

	mu     sync.Mutex
	cfg    Config            // the start configuration with the edits saved since
	source map[string]string // where each value came from at start
}

// NewEditor edits the page settings of the state directory l was loaded
// with (the file is created at the first save).
func NewEditor(l *Loaded) *Editor {
	src := map[string]string{}
	for k, v := range l.sources {
		src[k] = v
	}
	path := ""
	if l.Config.StateDir != "" {
		path = SettingsPath(l.Config.StateDir)
	}
	return &Editor{path: path, cfg: *cloneConfig(l.Config), source: src}
}

// Path is the page settings file the editor writes.
func (e *Editor) Path() string { return e.path }

// Values returns the settable keys' values: ints, bools and strings, the
// durations as strings ("500ms"), as JSON carries them.
func (e *Editor) Values() map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	return settingValues(&e.cfg)
}

// Overridden names the keys among keys whose value comes from a flag or the
// environment at start, which win over the page's settings: a change to them is saved
// but takes effect only when the flag or variable goes.
func (e *Editor) Overridden(keys []string) map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]string{}
	for _, k := range keys {
		if s := e.source[k]; strings.HasPrefix(s, "flag ") || strings.HasPrefix(s, "env ") {
			out[k] = s
		}
	}
	return out
}

// Update validates changes (key to a JSON value: a string, a number or a
// bool) and saves those that differ from the current values in the page
// settings file.
// It returns the keys that changed, sorted as SettingKeys. A refused value
// is an *Error naming the key; then nothing is written.
func (e *Editor) Update(changes map[string]any) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	byName := map[string]*key{}
	ks := keys()
	for i := range ks {
		byName[ks[i].name] = &ks[i]
	}
	next := cloneConfig(&e.cfg)
	var changed []string
	for _, name := range sortedKeys(changes) {
		k, ok := byName[name]
		if !ok || !slices.Contains(SettingKeys(), name) {
			return nil, &Error{Key: name, Value: rawJSON(changes[name]), Source: editSource,
				Problem: "not a setting the web page can change", Allowed: strings.Join(SettingKeys(), ", ")}
		}
		raw, err := jsonToRaw(k, changes[name])
		if err != nil {
			return nil, &Error{Key: name, Value: rawJSON(changes[name]), Source: editSource,
				Problem: "not " + k.kind.String(), Allowed: allowed(k)}
		}
		if err := assign(next, k, raw, editSource); err != nil {
			return nil, err
		}
		if formatValue(k, k.field(next)) != formatValue(k, k.field(&e.cfg)) {
			changed = append(changed, name)
		}
	}
	if err := Validate(next, func(key string) string {
		if _, ok := changes[key]; ok {
			return editSource
		}
		return e.source[key]
	}); err != nil {
		return nil, err
	}
	if len(changed) == 0 {
		return nil, nil
	}
	if err := e.write(byName, next, changed); err != nil {
		return nil, err
	}
	e.cfg = *next
	for _, k := range changed {
		if s := e.source[k]; !strings.HasPrefix(s, "flag ") && !strings.HasPrefix(s, "env ") {
			e.source[k] = e.path
		}
	}
	slices.SortFunc(changed, func(a, b string) int {
		return slices.Index(SettingKeys(), a) - slices.Index(SettingKeys(), b)
	})
	return changed, nil
}

// write puts the changed keys into the page settings file and checks that
// the whole new file loads before it replaces the old one.
func (e *Editor) write(byName map[string]*key, c *Config, changed []string) error {
	if e.path == "" {
		return errors.New("save the page settings: no state directory (state_dir is empty)")
	}
	old, err := os.ReadFile(e.path)
	switch {
	case err == nil, errors.Is(err, fs.ErrNotExist):
	default:
		return fmt.Errorf("read the page settings file %s: %w", e.path, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(old, &doc); err != nil {
		return &Error{Problem: "the page settings file is not valid YAML, so the web page will not rewrite it", Source: e.path,
			Allowed: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return &Error{Problem: "the file must be a mapping of keys to values", Source: fmt.Sprintf("%s:%d", e.path, root.Line)}
	}
	for _, name := range changed {
		k := byName[name]
		setNode(root, name, valueNode(k, k.field(c)))
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("encode the page settings file %s: %w", e.path, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode the page settings file %s: %w", e.path, err)
	}
	// The file as it will be must load, whole: this also catches a
	// problem that was in the file already (an edit by hand).
	check := &Loaded{Config: &Config{}, sources: map[string]string{}}
	if err := loadSettings(check.Config, check, byName, e.path, b.Bytes()); err != nil {
		return err
	}
	if err := statedir.Ensure(filepath.Dir(e.path)); err != nil {
		return fmt.Errorf("save the page settings: %w", err)
	}
	// 0600 as every file of the state directory: it is the speaker's own.
	if err := statedir.WriteFileAtomic(e.path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("save the page settings: %w", err)
	}
	return nil
}

// setNode sets name in the mapping root: where the file has it (as
// "audio.max_volume" at the top or max_volume in an audio section), else in
// its section, which is added at the end when missing.
func setNode(root *yaml.Node, name string, v *yaml.Node) {
	if i := mapIndex(root, name); i >= 0 {
		keepComments(root.Content[i+1], v)
		root.Content[i+1] = v
		return
	}
	section, leaf, ok := strings.Cut(name, ".")
	m := root
	if ok {
		i := mapIndex(root, section)
		if i < 0 || root.Content[i+1].Kind != yaml.MappingNode {
			sec := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			if i < 0 {
				root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: section}, sec)
			} else {
				root.Content[i+1] = sec
			}
			m = sec
		} else {
			m = root.Content[i+1]
		}
		name = leaf
	}
	if i := mapIndex(m, name); i >= 0 {
		keepComments(m.Content[i+1], v)
		m.Content[i+1] = v
		return
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, v)
}

func keepComments(old, v *yaml.Node) {
	v.HeadComment, v.LineComment, v.FootComment = old.HeadComment, old.LineComment, old.FootComment
}

func mapIndex(m *yaml.Node, name string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == name {
			return i
		}
	}
	return -1
}

// valueNode is the YAML scalar of a field with the type loadFile wants.
func valueNode(k *key, p any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode}
	switch v := p.(type) {
	case *string:
		n.Tag, n.Value = "!!str", *v
	case *int:
		n.Tag, n.Value = "!!int", strconv.Itoa(*v)
	case *bool:
		n.Tag, n.Value = "!!bool", strconv.FormatBool(*v)
	case *float64:
		n.Tag, n.Value = "!!float", strconv.FormatFloat(*v, 'g', -1, 64)
	case *time.Duration:
		n.Tag, n.Value = "!!str", v.String()
	default:
		panic(fmt.Sprintf("config key %s: no YAML form for %T", k.name, p))
	}
	return n
}

func settingValues(c *Config) map[string]any {
	ks := keys()
	out := map[string]any{}
	for i := range ks {
		k := &ks[i]
		if !slices.Contains(SettingKeys(), k.name) {
			continue
		}
		switch v := k.field(c).(type) {
		case *string:
			out[k.name] = *v
		case *int:
			out[k.name] = *v
		case *bool:
			out[k.name] = *v
		case *time.Duration:
			out[k.name] = v.String()
		}
	}
	return out
}

// jsonToRaw turns a JSON value into the flag syntax assign parses, so that
// a value from the page is checked exactly as one from a flag.
func jsonToRaw(k *key, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		if k.kind != kBool {
			return "", errors.New("a bool for a key that is not")
		}
		return strconv.FormatBool(x), nil
	case float64:
		if k.kind == kInt && (x != math.Trunc(x) || math.Abs(x) > 1<<53) {
			return "", errors.New("not a whole number")
		}
		if k.kind == kBool {
			return "", errors.New("a number for a bool")
		}
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("a JSON %T", v)
}

func rawJSON(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "null"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func cloneConfig(c *Config) *Config {
	n := *c
	n.Zeroconf.Interfaces = slices.Clone(c.Zeroconf.Interfaces)
	n.Zeroconf.AllowedUsers = slices.Clone(c.Zeroconf.AllowedUsers)
	n.Hooks.Env = slices.Clone(c.Hooks.Env)
	return &n
}

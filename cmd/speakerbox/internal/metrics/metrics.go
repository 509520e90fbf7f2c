// Package metrics serves GET /metrics in the Prometheus text format. It
// reads the components' own counters (Stats snapshots: atomics and small
// locked maps in audio/player, receiver, zeroconfsrv, gpio/amp and
// receiver/hooks) when Prometheus scrapes, so no component imports a
// metrics library and nothing is counted twice.
//
// The library is github.com/VictoriaMetrics/metrics rather than
// github.com/prometheus/client_golang. Measured on the armv6 binary
// (CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6, -trimpath -ldflags "-s -w",
// the same few metrics wired into cmd/speakerbox): VictoriaMetrics/metrics
// adds 131,072 bytes and two small modules (valyala/fastrand,
// valyala/histogram); client_golang adds 720,896 bytes (measured over a
// build with its upgraded requirements) and eight modules, and its
// requirements force upgrades of x/crypto, x/net, x/sys, x/sync, x/oauth2
// and protobuf under the rest of the speaker. What client_golang
// offers beyond it (collectors, protobuf exposition, exemplars) a
// speaker does not need. Its one gap for us, counters whose value lives
// elsewhere, is bridged by setting the library's counters from the
// snapshots at scrape time.
package metrics

import (
	"bytes"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/speakerbox/speakerbox/audio/player"
	"github.com/speakerbox/speakerbox/gpio/amp"
	"github.com/speakerbox/speakerbox/receiver"
	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/zeroconfsrv"
)

// ContentType is the Prometheus text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// BuildInfo is what speakerbox_build_info says of the binary.
type BuildInfo struct {
	Version   string // main.version
	GoVersion string // runtime.Version()
	Arch      string // GOARCH, with the GOARM/GOAMD64 level: "arm/v6", "arm64", "amd64/v1"
}

// CurrentBuild describes the running binary; version is main.version.
func CurrentBuild(version string) BuildInfo {
	arch := runtime.GOARCH
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if (s.Key == "GOARM" || s.Key == "GOAMD64" || s.Key == "GOARM64") && s.Value != "" {
				level := s.Value
				if s.Key == "GOARM" {
					level = "v" + level
				}
				arch += "/" + level
			}
		}
	}
	return BuildInfo{Version: version, GoVersion: runtime.Version(), Arch: arch}
}

// Sources are the components a scrape reads. A nil func is a part the
// speaker does not have (`speakerbox play` has no receiver, a speaker
// without amplifier switching has no relay): its metrics are left out.
// Each func must be safe to call from any goroutine and cheap (a snapshot).
type Sources struct {
	Build    BuildInfo
	Audio    func() player.Stats
	Receiver func() receiver.Stats
	ZeroConf func() zeroconfsrv.Stats
	// Relay and Hooks report ok false when there is none (yet).
	Relay func() (amp.Stats, bool)
	Hooks func() (hooks.Stats, bool)
	// Process adds the Go runtime's and the process's own metrics
	// (go_*, process_*: memory, GC, CPU time, open files).
	Process bool
}

// Metrics is the registry behind the handler.
type Metrics struct {
	src Sources

	// mu makes a scrape's update and write one step: two scrapes at once
	// never write a half-updated set.
	mu  sync.Mutex
	set *vm.Set
}

// Metric names, for the README and the tests.
const (
	nameBuildInfo         = "speakerbox_build_info"
	nameUnderruns         = "speakerbox_audio_underruns_total"
	nameXruns             = "speakerbox_audio_xruns_total"
	nameBufferFill        = "speakerbox_audio_buffer_fill_ratio"
	nameDecodeSeconds     = "speakerbox_audio_decode_seconds_total"
	nameDecodedSeconds    = "speakerbox_audio_decoded_seconds_total"
	nameDecodePerSecond   = "speakerbox_audio_decode_seconds_per_audio_second"
	nameReconnects        = "speakerbox_reconnects_total"
	nameLoginFailures     = "speakerbox_login_failures_total"
	namePublishes         = "speakerbox_connect_state_publishes_total"
	namePublishFailures   = "speakerbox_connect_state_publish_failures_total"
	namePublishRateLimits = "speakerbox_connect_state_rate_limited_total"
	nameAddUser           = "speakerbox_zeroconf_adduser_total"
	nameRelaySwitches     = "speakerbox_relay_switches_total"
	nameRelayOnSeconds    = "speakerbox_relay_on_seconds_total"
	nameRelayOn           = "speakerbox_relay_on"
	nameHookRuns          = "speakerbox_hook_runs_total"
	nameHookFailures      = "speakerbox_hook_failures_total"
	nameHookDropped       = "speakerbox_hook_events_dropped_total"
)

// New builds the registry over src.
func New(src Sources) *Metrics {
	// The library's one global: without it the output has no # TYPE lines
	// and Prometheus takes every family as untyped. Nothing else in the
	// binary uses the library, so setting it here changes nothing else.
	vm.ExposeMetadata(true)
	m := &Metrics{src: src, set: vm.NewSet()}
	b := src.Build
	m.set.NewGauge(fmt.Sprintf(`%s{version=%s,goversion=%s,arch=%s}`, nameBuildInfo,
		quote(b.Version), quote(b.GoVersion), quote(b.Arch)), func() float64 { return 1 })
	if src.Audio != nil {
		// Gauges read at scrape time; the counters are set in update.
		m.set.NewGauge(nameBufferFill, func() float64 { return src.Audio().BufferFill })
		m.set.NewGauge(nameDecodePerSecond, func() float64 {
			st := src.Audio()
			if st.DecodedAudio <= 0 {
				return 0
			}
			return st.DecodeTime.Seconds() / st.DecodedAudio.Seconds()
		})
	}
	if src.Relay != nil {
		m.set.NewGauge(nameRelayOn, func() float64 {
			if st, ok := src.Relay(); ok && st.On {
				return 1
			}
			return 0
		})
	}
	if src.Receiver != nil {
		// Known components and reasons appear at 0 from the start, so that
		// rate() and alerts see the series before the first event.
		for _, c := range []string{receiver.ReconnectAccessPoint, receiver.ReconnectDealer, receiver.ReconnectChain} {
			m.counter(nameReconnects, "component", c)
		}
		for _, r := range []string{receiver.LoginFailedAccessPoint, receiver.LoginFailedServices} {
			m.counter(nameLoginFailures, "reason", r)
		}
	}
	if src.ZeroConf != nil {
		m.addUserCounter(zeroconfsrv.AddUserResult{Status: zeroconfsrv.StatusOK.Code, HTTP: zeroconfsrv.StatusOK.HTTP})
	}
	if src.Relay != nil {
		m.counter(nameRelaySwitches, "to", "on")
		m.counter(nameRelaySwitches, "to", "off")
		m.set.GetOrCreateFloatCounter(nameRelayOnSeconds)
	}
	if src.Hooks != nil {
		m.counter(nameHookRuns, "hook", "on_event")
		m.counter(nameHookFailures, "hook", "on_event")
	}
	return m
}

// Handler serves GET (and HEAD) /metrics.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			fmt.Fprintf(w, `{"error":"%s /metrics: only GET and HEAD"}`+"\n", r.Method)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		if r.Method == http.MethodHead {
			return
		}
		m.WriteTo(w)
	})
}

// WriteTo writes one scrape to w.
func (m *Metrics) WriteTo(w interface{ Write([]byte) (int, error) }) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.update()
	m.set.WritePrometheus(w)
	if m.src.Process {
		vm.WriteProcessMetrics(w)
	}
}

// Counters is one scrape of the speaker's own series (the Go runtime's and
// the process's left out), by series name with its labels as exposed: the
// local API's /status and the report show them without a second set of
// names to keep in step.
func (m *Metrics) Counters() map[string]float64 {
	var b bytes.Buffer
	m.mu.Lock()
	m.update()
	m.set.WritePrometheus(&b)
	m.mu.Unlock()
	out := make(map[string]float64)
	for _, line := range strings.Split(b.String(), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}

// update sets the counters from the components' snapshots.
func (m *Metrics) update() {
	src := m.src
	if src.Audio != nil {
		st := src.Audio()
		m.set.GetOrCreateCounter(nameUnderruns).Set(st.Underruns)
		m.set.GetOrCreateCounter(nameXruns).Set(st.Xruns)
		m.set.GetOrCreateFloatCounter(nameDecodeSeconds).Set(st.DecodeTime.Seconds())
		m.set.GetOrCreateFloatCounter(nameDecodedSeconds).Set(st.DecodedAudio.Seconds())
	}
	if src.Receiver != nil {
		st := src.Receiver()
		for c, n := range st.Reconnects {
			m.counter(nameReconnects, "component", c).Set(n)
		}
		for r, n := range st.LoginFailures {
			m.counter(nameLoginFailures, "reason", r).Set(n)
		}
		m.set.GetOrCreateCounter(namePublishes).Set(st.Publish.Published)
		m.set.GetOrCreateCounter(namePublishFailures).Set(st.Publish.Failed)
		m.set.GetOrCreateCounter(namePublishRateLimits).Set(st.Publish.RateLimited)
	}
	if src.ZeroConf != nil {
		st := src.ZeroConf()
		for r, n := range st.AddUser {
			m.addUserCounter(r).Set(n)
		}
	}
	if src.Relay != nil {
		if st, ok := src.Relay(); ok {
			m.counter(nameRelaySwitches, "to", "on").Set(st.SwitchedOn)
			m.counter(nameRelaySwitches, "to", "off").Set(st.SwitchedOff)
			m.set.GetOrCreateFloatCounter(nameRelayOnSeconds).Set(st.OnTime.Seconds())
		}
	}
	if src.Hooks != nil {
		if st, ok := src.Hooks(); ok {
			for _, h := range sortedKeys(st.Runs) {
				m.counter(nameHookRuns, "hook", h).Set(st.Runs[h])
				m.counter(nameHookFailures, "hook", h).Set(st.Failures[h])
			}
			m.set.GetOrCreateCounter(nameHookDropped).Set(st.Dropped)
		}
	}
}

func (m *Metrics) addUserCounter(r zeroconfsrv.AddUserResult) *vm.Counter {
	result := "refused"
	if r.Accepted() {
		result = "accepted"
	}
	return m.set.GetOrCreateCounter(fmt.Sprintf(`%s{result=%q,status="%d",code="%d"}`, nameAddUser, result, r.Status, r.HTTP))
}

// counter is the counter name{label="value"}.
func (m *Metrics) counter(name, label, value string) *vm.Counter {
	return m.set.GetOrCreateCounter(name + "{" + label + "=" + quote(value) + "}")
}

// quote makes v a label value the library takes whatever it holds: the
// values come from our code and Spotify's error codes, but a label is no
// place to trust that.
func quote(v string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_.:/+-", r):
			return r
		}
		return '_'
	}, v)
	if clean == "" {
		clean = "unknown"
	}
	return strconv.Quote(clean)
}

func sortedKeys(m map[string]uint64) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

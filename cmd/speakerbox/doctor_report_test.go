package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	devicespb "github.com/devgianlu/go-librespot/proto/spotify/connectstate/devices"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/internal/statedir"
	"github.com/speakerbox/speakerbox/zeroconfsrv"
	"github.com/speakerbox/speakerbox/zeroconfsrv/mdns"
)

// reportSecrets is a state directory with real stored logins and a
// configuration file with secrets: everything the report must not show.
type reportSecrets struct {
	state, config string
	deviceID      string
	user          string   // the full username: only its short form may appear
	secrets       []string // may not appear at all, in any encoding the files use
}

func newReportSecrets(t *testing.T) reportSecrets {
	t.Helper()
	r := reportSecrets{state: t.TempDir(), user: "alice.whitfield-longname"}
	st := creds.NewStore(r.state, slog.New(slog.DiscardHandler), time.Now)
	handed := creds.Credentials{Username: r.user, AuthType: creds.AuthStoredSpotify, AuthData: []byte("handover-blob-7f3a9c")}
	reusable := creds.Credentials{Username: r.user, AuthType: creds.AuthStoredSpotify, AuthData: []byte("reusable-blob-e41d02")}
	if err := st.Put(handed); err != nil {
		t.Fatal(err)
	}
	if err := st.Accepted(handed, reusable); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(creds.Credentials{Username: "bob.unverified", AuthType: creds.AuthSpotifyToken, AuthData: []byte("token-blob-99c1")}); err != nil {
		t.Fatal(err)
	}
	id, _, err := statedir.DeviceID(r.state)
	if err != nil {
		t.Fatal(err)
	}
	r.deviceID = id
	for _, c := range []string{"reusable-blob-e41d02", "token-blob-99c1"} {
		r.secrets = append(r.secrets, c, base64.StdEncoding.EncodeToString([]byte(c)))
	}
	r.secrets = append(r.secrets, "ha-token-5d1e8b7a", "inline-bearer-0c4f")
	body := "name: Report Test\n" +
		"hooks:\n" +
		"  env: [\"HA_TOKEN=ha-token-5d1e8b7a\", \"PLAIN=visible\"]\n" +
		"  on_event: 'curl -H \"Authorization: Bearer inline-bearer-0c4f\" http://ha.local/x'\n"
	body += "api:\n  token: api-token-a8b7c6d5e4\n"
	r.secrets = append(r.secrets, "api-token-a8b7c6d5e4")
	r.config = writeConfig(t, body)
	return r
}

// check fails t if report shows a secret or the full username, or lacks a
// section.
func (r reportSecrets) check(t *testing.T, report string) {
	t.Helper()
	for _, s := range append(r.secrets, r.user, "bob.unverified") {
		if strings.Contains(report, s) {
			t.Errorf("the report shows %q", s)
		}
	}
	for _, sec := range []string{"version and build", "configuration", "state directory", "audio", "mixer", "gpio",
		"network interfaces", "zeroconf reachability", "log (last 200 lines)", "counters"} {
		if !strings.Contains(report, "\n== "+sec+" ==\n") {
			t.Errorf("no section %q", sec)
		}
	}
	for _, want := range []string{"al…e (stored", "stored logins: 3", "device id " + r.deviceID, "PLAIN=***",
		`hooks.on_event: "curl ***" (arguments masked)`, "audio.output null", "speakerbox " + version} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("report:\n%s", report)
	}
}

// `speakerbox doctor report --output FILE` as an owner runs it: the file
// is written 0600, progress goes to stderr, and no secret is in it.
func TestDoctorReportCommandHasNoSecrets(t *testing.T) {
	r := newReportSecrets(t)
	out := filepath.Join(t.TempDir(), "report.txt")
	stdout, stderr, code := runCmd(t, speakerbox(t, []string{"PATH=/nonexistent"}, "doctor", "report", "--config", r.config, "--state_dir", r.state,
		"--audio.output", "null", "--zeroconf.interfaces", "lo", "--zeroconf.port", "9", "--output", out))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if strings.TrimSpace(stdout) != out || !strings.Contains(stderr, "collecting: zeroconf reachability") || !strings.Contains(stderr, "report written: "+out) {
		t.Errorf("stdout %q, stderr:\n%s", stdout, stderr)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("report mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	report := string(b)
	r.check(t, report)
	for _, want := range []string{"127.0.0.1:9: NOT reachable", "lo (index", "no log: neither journalctl nor logread"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	// Secrets stay out of what the command printed too.
	for _, s := range append(r.secrets, r.user) {
		if strings.Contains(stdout+stderr, s) {
			t.Errorf("the command printed %q", s)
		}
	}
}

// testApp loads the configuration as realMain does, for in-process tests.
func testApp(t *testing.T, args ...string) *app {
	t.Helper()
	set := config.NewSet()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	set.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	loaded, err := set.Load(config.Env{Hostname: "host", DefaultStateDir: t.TempDir(), DefaultConfigPath: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	return &app{cfg: loaded.Config, loaded: loaded, log: slog.New(slog.DiscardHandler),
		stdout: io.Discard, stderr: io.Discard, guard: &exitGuard{}}
}

// The report of a running speaker (what the web page serves): the log
// lines it is given are scrubbed of secrets and full usernames, and the
// ZeroConf API is reached on its address with a real getInfo.
func TestWriteReportScrubsLogsAndReachesZeroconf(t *testing.T) {
	r := newReportSecrets(t)
	a := testApp(t, "--config", r.config, "--state_dir", r.state, "--audio.output", "null", "--zeroconf.interfaces", "lo")

	zc, lo := startLoopbackZeroconf(t, r.deviceID, r.state)
	zc.Handler().SetActiveUser(r.user)

	var b bytes.Buffer
	var sections []string
	err := writeReport(context.Background(), &b, a, reportSources{
		Logs: func(ctx context.Context, n int) ([]string, string, error) {
			if n != reportLogLines {
				t.Errorf("asked for %d lines", n)
			}
			return []string{
				`level=INFO msg="logged in" user=` + r.user,
				`level=DEBUG msg="hook env" env=HA_TOKEN=ha-token-5d1e8b7a`,
				`level=INFO msg="third-party line" blob=` + base64.StdEncoding.EncodeToString([]byte("reusable-blob-e41d02")),
			}, "the test's ring", nil
		},
		ZeroconfAddrs: func(context.Context) ([]netip.AddrPort, error) { return zc.Addrs(), nil },
		Interfaces:    func() ([]zeroconfsrv.Iface, error) { return []zeroconfsrv.Iface{lo}, nil },
		Counters:      func(w io.Writer) error { _, err := io.WriteString(w, "underruns 3\n"); return err },
		Progress:      func(s string) { sections = append(sections, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	report := b.String()
	r.check(t, report)
	for _, want := range []string{
		"from the test's ring, 3 lines", `msg="logged in" user=al…e`, "env=HA_TOKEN=***", "blob=***",
		"reachable: TCP connect", "this speaker's device id", "active user al…e", "underruns 3",
		"lo (index 1): up, loopback, no multicast, advertised",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if len(sections) != 10 {
		t.Errorf("progress told %d sections: %q", len(sections), sections)
	}
	if t.Failed() {
		t.Logf("report:\n%s", report)
	}
}

// startLoopbackZeroconf runs a ZeroConf server on 127.0.0.1 (a fake "lo"
// interface, no mDNS) until the test ends.
func startLoopbackZeroconf(t *testing.T, deviceID, state string) (*zeroconfsrv.Server, zeroconfsrv.Iface) {
	t.Helper()
	lo := zeroconfsrv.Iface{Name: "lo", Index: 1, Flags: net.FlagUp | net.FlagLoopback, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	zc, err := zeroconfsrv.New(zeroconfsrv.Config{
		Handler: zeroconfsrv.HandlerConfig{
			Info:   zeroconfsrv.Info{Name: "Report Test", DeviceType: devicespb.DeviceType_SPEAKER, DeviceID: deviceID, Model: "librespot"},
			Logger: slog.New(slog.DiscardHandler),
		},
		Interfaces:     []string{"lo"},
		ListInterfaces: func() ([]zeroconfsrv.Iface, error) { return []zeroconfsrv.Iface{lo}, nil },
		Advertise:      func(mdns.Service) (mdns.Registration, error) { return nopRegistration{}, nil },
	}, creds.NewStore(state, slog.New(slog.DiscardHandler), time.Now), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- zc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-zc.Ready()
	return zc, lo
}

type nopRegistration struct{}

func (nopRegistration) Shutdown() {}

func TestParseProcNetListeners(t *testing.T) {
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0FEE 00000000:0000 0A 00000000:00000000 00:00000000 00000000   998        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0FEF 0100007F:9C40 01 00000000:00000000 00:00000000 00000000   998        0 2 1 0000000000000000 20 4 30 10 -1
   2: 0B02A8C0:ZZZZ 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
   3: 0B02A8C0:1F90 00000000:0000 0A
   4: short
`
	tcp6 := `  sl  local_address                         remote_address                        st
   0: 000080FE00000000FF0A0B02FE0C0D0E:0FEE 00000000000000000000000000000000:0000 0A 00000000:00000000
   1: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000
`
	got := append(parseProcNetListeners([]byte(tcp)), parseProcNetListeners([]byte(tcp6))...)
	want := []string{"127.0.0.1:4078", "192.168.2.11:8080", "[fe80::20b:aff:e0d:cfe]:4078", "[::1]:22"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("listener %d: %v, want %s", i, got[i], want[i])
		}
	}
}

// configSecrets holds every secret value of the configuration, the API
// token among them, so the report scrubs it wherever it shows (a log line
// of a hook that printed it, say), not only where its key masks it.
func TestConfigSecretsHoldTheAPIToken(t *testing.T) {
	a := &app{cfg: &config.Config{}}
	a.cfg.Hooks.Env = []string{"HA_TOKEN=ha-1"}
	a.cfg.API.Token = "api-token-0123456789"
	got := strings.Join(configSecrets(a), " ")
	if !strings.Contains(got, "ha-1") || !strings.Contains(got, "api-token-0123456789") {
		t.Fatalf("configSecrets = %q", got)
	}
}

// The CLI report asks the running speaker for its counters through the
// local API's /metrics, with the token, and keeps only the speaker's own
// series; the API switched off means no counters to ask for.
func TestReportAsksTheRunningSpeakerForCounters(t *testing.T) {
	const token = "0123456789abcdef0123"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" || r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"error":"no"}`, http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "# TYPE speakerbox_audio_underruns_total counter\nspeakerbox_audio_underruns_total 3\ngo_goroutines 12\nspeakerbox_relay_on 1\n")
	}))
	defer srv.Close()
	a := &app{cfg: &config.Config{}}
	a.cfg.API.Address = strings.TrimPrefix(srv.URL, "http://")
	a.cfg.API.Token = token
	var b strings.Builder
	if err := runningCounters(a)(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != "speakerbox_audio_underruns_total 3\nspeakerbox_relay_on 1\n" {
		t.Fatalf("counters %q", b.String())
	}
	a.cfg.API.Token = "wrong-token-0123456789"
	if err := runningCounters(a)(&b); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("with a wrong token: %v", err)
	}
	a.cfg.API.Address = "off"
	if runningCounters(a) != nil {
		t.Fatal("counters asked for with the API off")
	}
}

package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/zeroconfsrv"
	"github.com/speakerbox/speakerbox/zeroconfsrv/phonetest"
)

var runListenRe = regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`)

// runningSpeaker is `speakerbox run` in a child process with its stderr
// lines streamed to the test.
type runningSpeaker struct {
	*speakerProcess
	t    *testing.T
	log  *syncBuffer
	base string
}

// startSpeaker starts the speaker on loopback. HTTPS_PROXY points at a closed
// loopback port (childSpeaker): the login to Spotify fails at once, offline,
// without a DNS query leaving the machine, as on a speaker whose internet is
// down.
func startSpeaker(t *testing.T, state string) *runningSpeaker {
	t.Helper()
	p := childSpeaker(t, nil, "--state_dir", state, "--audio.output", "null", "--zeroconf.interfaces", "lo", "--name", "Run Test")
	s := &runningSpeaker{speakerProcess: p, t: t, log: p.stderr}
	m := s.expect(`zeroconf HTTP API listening`)
	if a := runListenRe.FindStringSubmatch(m); a != nil {
		s.base = "http://" + a[1] + "/"
	} else {
		t.Fatalf("no loopback address in %q", m)
	}
	return s
}

// expect waits for a log line containing substr, anywhere in the log; it
// returns the line.
func (s *runningSpeaker) expect(substr string) string {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range strings.Split(s.log.String(), "\n") {
			if strings.Contains(l, substr) {
				return l
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("no log line with %q; log:\n%s", substr, s.log.String())
	return ""
}

func (s *runningSpeaker) stop() {
	s.t.Helper()
	s.terminate(s.t, nil)
}

// TestRunTakesLoginOffline: the speaker answers getInfo and accepts a phone's
// login with no route to Spotify, stores the credentials, keeps retrying the
// login in the background, and logs in from the stored credentials on the
// next start.
func TestRunTakesLoginOffline(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	s := startSpeaker(t, state)
	s.expect("no stored credentials; waiting for a phone")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get(s.base + "?action=getInfo")
	if err != nil {
		t.Fatal(err)
	}
	var info zeroconfsrv.GetInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id, _ := os.ReadFile(filepath.Join(state, "device_id"))
	if info.RemoteName != "Run Test" || info.DeviceID != strings.TrimSpace(string(id)) || info.DeviceType != "SPEAKER" {
		t.Fatalf("getInfo %+v (device id file %q)", info, id)
	}

	login := phonetest.Login{Username: "dora", AuthType: creds.AuthStoredSpotify, AuthData: []byte("dora-stored")}
	form, err := phonetest.New([]byte{7, 7, 7}).AddUserForm(info.DeviceID, info.PublicKey, make([]byte, 16), login)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = client.PostForm(s.base, form)
	if err != nil {
		t.Fatal(err)
	}
	var r zeroconfsrv.Response
	_ = json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if r.Status != 101 {
		t.Fatalf("addUser: %+v", r)
	}
	s.expect("logging in to Spotify")
	s.expect("login failed; will retry")
	// Discovery is still up while the login keeps failing.
	resp, err = client.Get(s.base + "?action=getInfo")
	if err != nil {
		t.Fatalf("getInfo after a failed login: %v", err)
	}
	resp.Body.Close()
	s.stop()
	if strings.Contains(s.log.String(), "dora-stored") || strings.Contains(s.log.String(), "dora ") {
		t.Fatalf("the log shows the username or the credentials:\n%s", s.log.String())
	}

	// Stored at once, as a login Spotify has not accepted yet: it is what
	// the next start tries, but credentials.json (for librespot tools) only
	// ever gets a login Spotify accepted.
	e, ok, err := creds.NewStore(state, slog.New(slog.DiscardHandler), time.Now).Default()
	if !ok || err != nil || e.Username != "dora" || string(e.AuthData) != "dora-stored" || e.Verified {
		t.Fatalf("stored %v verified=%v, %v %v", e, e.Verified, ok, err)
	}
	if _, err := os.Stat(filepath.Join(state, creds.DefaultFile)); !os.IsNotExist(err) {
		t.Fatalf("credentials.json written before Spotify accepted the login: %v", err)
	}

	// A temporary file left by a write a crash cut short, an hour old: the
	// next start removes it.
	stale := filepath.Join(state, "."+creds.UsersFile+".tmp-4242")
	if err := os.WriteFile(stale, []byte("[{"), 0o600); err != nil {
		t.Fatal(err)
	}
	hourAgo := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stale, hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}

	s = startSpeaker(t, state)
	s.expect("removed temporary files left by an interrupted write")
	s.expect("logging in with stored credentials")
	s.expect("login failed; will retry")
	s.stop()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temporary file still there after a start: %v", err)
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"log/slog"

	"github.com/speakerbox/speakerbox/internal/creds"
)

// seedStore stores alice and bob as logins Spotify accepted and carol as
// a newer handover it has not seen yet.
func seedStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	st := creds.NewStore(dir, slog.New(slog.DiscardHandler), time.Now)
	for _, u := range []string{"alice", "bob"} {
		c := creds.Credentials{Username: u, AuthType: creds.AuthStoredSpotify, AuthData: []byte("secret-" + u)}
		if err := st.Accepted(c, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Put(creds.Credentials{Username: "carol", AuthType: creds.AuthSpotifyToken, AuthData: []byte("secret-carol")}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCredentialsListExportForget(t *testing.T) {
	dir := seedStore(t)
	sd := "--state_dir=" + dir

	stdout, stderr, code := runCmd(t, speakerbox(t, nil, "credentials", sd, "list"))
	if code != 0 {
		t.Fatalf("list: %d %q %q", code, stdout, stderr)
	}
	if strings.Contains(stdout, "secret") || strings.Contains(stdout, "c2VjcmV0") {
		t.Fatal("list prints auth data")
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(stdout, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = f
		}
	}
	for user, want := range map[string]string{"alice": "stored verified", "bob": "stored verified", "carol": "token unverified"} {
		if got := strings.Join(rows[user][1:min(3, len(rows[user]))], " "); got != want {
			t.Errorf("list row of %s: %q, want %q\n%s", user, rows[user], want, stdout)
		}
	}
	if r := rows["carol"]; r[len(r)-1] != "default" || strings.Contains(strings.Join(rows["bob"], " "), "default") {
		t.Errorf("the default is not carol, the newest handover:\n%s", stdout)
	}

	// librespot's format gets the newest login Spotify accepted.
	stdout, _, code = runCmd(t, speakerbox(t, nil, "credentials", sd, "export"))
	var one map[string]any
	if code != 0 || json.Unmarshal([]byte(stdout), &one) != nil || one["username"] != "bob" || one["auth_type"] != float64(1) || one["auth_data"] != "c2VjcmV0LWJvYg==" {
		t.Fatalf("export librespot: %d %s", code, stdout)
	}
	stdout, _, code = runCmd(t, speakerbox(t, nil, "credentials", sd, "export", "--user", "ALICE"))
	if code != 0 || !strings.Contains(stdout, `"username": "alice"`) {
		t.Fatalf("export --user: %d %s", code, stdout)
	}
	stdout, _, code = runCmd(t, speakerbox(t, nil, "credentials", sd, "export", "--user", "carol"))
	if code != 0 || !strings.Contains(stdout, `"username": "carol"`) {
		t.Fatalf("export --user of an unverified login: %d %s", code, stdout)
	}
	stdout, _, code = runCmd(t, speakerbox(t, nil, "credentials", sd, "export", "--format", "spotifyplus"))
	var many []map[string]any
	if code != 0 || json.Unmarshal([]byte(stdout), &many) != nil || len(many) != 3 || many[0]["username"] != "alice" || many[1]["auth_data"] != "c2VjcmV0LWJvYg==" || len(many[2]) != 3 {
		t.Fatalf("export spotifyplus (librespot's three fields only): %d %s", code, stdout)
	}
	_, stderr, code = runCmd(t, speakerbox(t, nil, "credentials", sd, "export", "--format", "xml"))
	if code != exitUsage || !strings.Contains(stderr, `"xml"`) {
		t.Fatalf("bad format: %d %s", code, stderr)
	}

	_, stderr, code = runCmd(t, speakerbox(t, nil, "credentials", sd, "forget", "nobody"))
	if code != exitFailure || !strings.Contains(stderr, `"nobody"`) {
		t.Fatalf("forget unknown: %d %s", code, stderr)
	}
	stdout, _, code = runCmd(t, speakerbox(t, nil, "credentials", sd, "forget", "bob"))
	if code != 0 {
		t.Fatalf("forget: %d %s", code, stdout)
	}
	b, _ := os.ReadFile(filepath.Join(dir, creds.DefaultFile))
	if c, err := creds.Parse(b); err != nil || c.Username != "alice" {
		t.Fatalf("after forgetting bob, credentials.json = %s", b)
	}
}

func TestCredentialsEmptyStore(t *testing.T) {
	sd := "--state_dir=" + t.TempDir()
	stdout, _, code := runCmd(t, speakerbox(t, nil, "credentials", sd, "list"))
	if code != 0 || !strings.Contains(stdout, "No stored credentials") {
		t.Fatalf("list: %d %q", code, stdout)
	}
	_, stderr, code := runCmd(t, speakerbox(t, nil, "credentials", sd, "export"))
	if code != exitFailure || !strings.Contains(stderr, "no stored credentials") {
		t.Fatalf("export: %d %q", code, stderr)
	}
	_, _, code = runCmd(t, speakerbox(t, nil, "credentials", sd))
	if code != exitUsage {
		t.Fatalf("no action: %d", code)
	}
}

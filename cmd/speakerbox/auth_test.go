package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/zeroconfsrv"
	"github.com/speakerbox/speakerbox/zeroconfsrv/phonetest"
)

var listenRe = regexp.MustCompile(`zeroconf HTTP API listening" addr=(127\.0\.0\.1:\d+)`)

// TestAuthEndToEnd runs `speakerbox auth` as a child process and plays the
// phone over loopback HTTP: getInfo, then addUser with an encrypted blob.
func TestAuthEndToEnd(t *testing.T) {
	out := filepath.Join(t.TempDir(), "creds.json")
	cmd := speakerbox(t, nil, "auth", "--name", "Auth Test", "--path", out, "--class", "castaudio", "--interfaces", "lo", "--timeout", "60s")
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var errLog bytes.Buffer
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			errLog.WriteString(sc.Text() + "\n")
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	outText := make(chan string)
	go func() { b, _ := io.ReadAll(stdout); outText <- string(b) }()

	var base string
	select {
	case a := <-addr:
		base = "http://" + a + "/"
	case <-time.After(30 * time.Second):
		t.Fatal("auth never listened on 127.0.0.1")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get(base + "?action=getInfo")
	if err != nil {
		t.Fatal(err)
	}
	var info zeroconfsrv.GetInfo
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if info.RemoteName != "Auth Test" || info.DeviceType != "CAST_AUDIO" || info.ModelDisplayName != "librespot" || len(info.DeviceID) != 40 {
		t.Fatalf("getInfo %+v", info)
	}
	login := phonetest.Login{Username: "carol", AuthType: creds.AuthStoredSpotify, AuthData: []byte("carol-reusable")}
	form, err := phonetest.New([]byte{0x42, 0x17, 0x99}).AddUserForm(info.DeviceID, info.PublicKey, make([]byte, 16), login)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = client.PostForm(base, form)
	if err != nil {
		t.Fatal(err)
	}
	var r zeroconfsrv.Response
	json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if r.Status != 101 {
		t.Fatalf("addUser: %+v", r)
	}

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("auth exited with %v\n%s", err, errLog.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("auth did not exit after the login")
	}
	text := <-outText
	if !strings.Contains(text, "Open Spotify and select output device: Auth Test\n") || !strings.Contains(text, "Credentials saved: "+out+"\n") {
		t.Fatalf("stdout: %q", text)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	c, err := creds.Parse(b)
	if err != nil || c.Username != "carol" || c.AuthType != 1 || string(c.AuthData) != "carol-reusable" {
		t.Fatalf("saved %s: %+v %v", b, c, err)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
}

func TestAuthTimeoutAndUsage(t *testing.T) {
	out := filepath.Join(t.TempDir(), "creds.json")
	_, stderr, code := runCmd(t, speakerbox(t, nil, "auth", "--name", "T", "--path", out, "--interfaces", "lo", "--timeout", "300ms"))
	if code != exitFailure || !strings.Contains(stderr, "no phone selected \"T\" within 300ms; nothing was saved") {
		t.Fatalf("timeout: code %d\n%s", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("a file was written on timeout")
	}
	_, stderr, code = runCmd(t, speakerbox(t, nil, "auth", "--path", "/nonexistent/dir/creds.json"))
	if code != exitUsage || !strings.Contains(stderr, `directory "/nonexistent/dir" does not exist`) {
		t.Fatalf("bad path: code %d\n%s", code, stderr)
	}
	_, stderr, code = runCmd(t, speakerbox(t, nil, "auth", "--class", "toaster"))
	if code != exitUsage || !strings.Contains(stderr, `"toaster"`) {
		t.Fatalf("bad class: code %d\n%s", code, stderr)
	}
}

// Every device class the configuration accepts is one zeroconfsrv knows.
func TestDeviceTypesAgree(t *testing.T) {
	for _, c := range config.DeviceTypes() {
		if _, err := zeroconfsrv.ParseDeviceType(c); err != nil {
			t.Error(err)
		}
	}
}

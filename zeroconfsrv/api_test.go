package zeroconfsrv

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	devicespb "github.com/devgianlu/go-librespot/proto/spotify/connectstate/devices"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/zeroconfsrv/phonetest"
)

const testDeviceID = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"

type fakeReceiver struct {
	mu     sync.Mutex
	logins []creds.Credentials
	resets int
}

func (f *fakeReceiver) OnLogin(_ context.Context, c creds.Credentials) {
	f.mu.Lock()
	f.logins = append(f.logins, c)
	f.mu.Unlock()
}
func (f *fakeReceiver) OnReset(context.Context) { f.mu.Lock(); f.resets++; f.mu.Unlock() }

type fixture struct {
	h     *Handler
	store *creds.Store
	recv  *fakeReceiver
	logs  *bytes.Buffer
	now   time.Time
	mu    sync.Mutex
}

func newFixture(t *testing.T, mod func(*HandlerConfig)) *fixture {
	t.Helper()
	f := &fixture{recv: &fakeReceiver{}, logs: &bytes.Buffer{}, now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: f.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.store = creds.NewStore(t.TempDir(), log, time.Now)
	cfg := HandlerConfig{
		Info:        Info{Name: "Kitchen", DeviceType: devicespb.DeviceType_SPEAKER, DeviceID: testDeviceID, Model: "librespot", LibraryVersion: "speakerbox test"},
		AddUserRate: 1000,
		Logger:      log,
		Now:         func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now },
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := NewHandler(cfg, f.store, f.recv)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (f *fixture) do(method, target string, body io.Reader, remote string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, body)
	if body != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if remote != "" {
		r.RemoteAddr = remote
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func (f *fixture) post(form url.Values) *httptest.ResponseRecorder {
	return f.do(http.MethodPost, "/", strings.NewReader(form.Encode()), "")
}

func (f *fixture) info(t *testing.T) map[string]any {
	t.Helper()
	w := f.do(http.MethodGet, "/?action=getInfo", nil, "")
	if w.Code != 200 {
		t.Fatalf("getInfo HTTP %d", w.Code)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) form(t *testing.T, l phonetest.Login) url.Values {
	t.Helper()
	info := f.info(t)
	ph := phonetest.New(bytes.Repeat([]byte{0x5c}, 64))
	form, err := ph.AddUserForm(info["deviceID"].(string), info["publicKey"].(string), bytes.Repeat([]byte{3}, 16), l)
	if err != nil {
		t.Fatal(err)
	}
	return form
}

func decode(t *testing.T, w *httptest.ResponseRecorder) Response {
	t.Helper()
	var r Response
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	return r
}

// snapshot lists the state directory's files and contents.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		out = append(out, e.Name()+"="+string(b))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

var alice = phonetest.Login{Username: "alice", AuthType: creds.AuthStoredSpotify, AuthData: []byte("alice-reusable-credentials")}

func TestGetInfoFields(t *testing.T) {
	f := newFixture(t, nil)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		var w *httptest.ResponseRecorder
		if method == http.MethodGet {
			w = f.do(method, "/?action=getInfo", nil, "")
		} else {
			w = f.do(method, "/", strings.NewReader("action=getInfo"), "")
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"status": "101", "statusString": `"OK"`, "spotifyError": "0", "version": `"2.7.1"`,
			"deviceID": `"` + testDeviceID + `"`, "remoteName": `"Kitchen"`, "deviceType": `"SPEAKER"`,
			"brandDisplayName": `"Speakerbox"`, "modelDisplayName": `"librespot"`, "libraryVersion": `"speakerbox test"`,
			"resolverVersion": `"0"`, "groupStatus": `"NONE"`, "tokenType": `"default"`, "clientID": `"65b708073fc0480ea92a077233ca87bd"`,
			"productID": "0", "scope": `"streaming,client-authorization-universal"`, "availability": `""`,
			"accountReq": `"PREMIUM"`, "activeUser": `""`, "voiceSupport": `"NO"`,
		}
		for k, v := range want {
			if string(m[k]) != v {
				t.Errorf("%s %s = %s, want %s", method, k, m[k], v)
			}
		}
		pub, err := base64.StdEncoding.DecodeString(strings.Trim(string(m["publicKey"]), `"`))
		if err != nil || len(pub) < 90 || len(pub) > 96 {
			t.Errorf("publicKey %s: %v", m["publicKey"], err)
		}
		if len(m) != len(want)+1 {
			t.Errorf("%d fields, want %d", len(m), len(want)+1)
		}
	}
}

func TestAddUserRoundTrip(t *testing.T) {
	f := newFixture(t, nil)
	w := f.post(f.form(t, alice))
	if r := decode(t, w); w.Code != 200 || r.Status != 101 || r.StatusString != "OK" {
		t.Fatalf("addUser: HTTP %d %+v", w.Code, r)
	}
	c, ok, err := f.store.Default()
	if !ok || err != nil || c.Username != "alice" || c.AuthType != 1 || string(c.AuthData) != string(alice.AuthData) {
		t.Fatalf("stored %+v %v %v", c, ok, err)
	}
	if got := f.info(t)["activeUser"]; got != "alice" {
		t.Fatalf("activeUser = %v", got)
	}
	if len(f.recv.logins) != 1 || f.recv.logins[0].Username != "alice" {
		t.Fatalf("receiver logins %+v", f.recv.logins)
	}
	if strings.Contains(f.logs.String(), "alice") || strings.Contains(f.logs.String(), "reusable") {
		t.Fatalf("log carries the full username or auth data:\n%s", f.logs)
	}
}

// TestAddUserFloodIsBounded is issue 9's measurement: one LAN client
// inventing users with valid blobs. Each addUser is still stored and handed
// to the receiver at once (offline first), but the store keeps only the
// newest few unverified logins and never drops the one Spotify accepted.
func TestAddUserFloodIsBounded(t *testing.T) {
	f := newFixture(t, nil)
	owner := creds.Credentials{Username: "owner", AuthType: creds.AuthStoredSpotify, AuthData: []byte("owner-reusable")}
	if err := f.store.Accepted(owner, owner); err != nil {
		t.Fatal(err)
	}
	const invented = 40
	for i := range invented {
		l := phonetest.Login{Username: fmt.Sprintf("invented%02d", i), AuthType: creds.AuthStoredSpotify, AuthData: bytes.Repeat([]byte{byte(i)}, 200)}
		if r := decode(t, f.post(f.form(t, l))); r.Status != 101 {
			t.Fatalf("addUser %d: %+v", i, r)
		}
	}
	all, err := f.store.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1+creds.MaxUnverified || all[0].Username != "owner" || !all[0].Verified {
		t.Fatalf("store holds %d entries (first %v), want the owner and %d unverified", len(all), all[0], creds.MaxUnverified)
	}
	for i, e := range all[1:] {
		if want := fmt.Sprintf("invented%02d", invented-creds.MaxUnverified+i); e.Verified || e.Username != want {
			t.Fatalf("entry %d: %s verified=%v, want %s unverified", i+1, e.Username, e.Verified, want)
		}
	}
	b, err := os.ReadFile(filepath.Join(f.store.Dir(), creds.DefaultFile))
	if c, perr := creds.Parse(b); err != nil || perr != nil || c.Username != "owner" {
		t.Fatalf("credentials.json no longer holds the verified owner: %v %v", err, perr)
	}
	if len(f.recv.logins) != invented {
		t.Fatalf("receiver got %d logins, want every one of %d", len(f.recv.logins), invented)
	}
}

func TestAddUserBadInputBattery(t *testing.T) {
	f := newFixture(t, nil)
	good := f.form(t, alice)
	b64 := base64.StdEncoding.EncodeToString
	with := func(k, v string) url.Values {
		form := url.Values{}
		for kk, vv := range good {
			form[kk] = vv
		}
		if v == "<del>" {
			form.Del(k)
		} else {
			form.Set(k, v)
		}
		return form
	}
	goodBlob, _ := base64.StdEncoding.DecodeString(good.Get("blob"))
	badMAC := bytes.Clone(goodBlob)
	badMAC[len(badMAC)-1] ^= 0x80
	p := phonetest.Group1Prime
	cases := []struct {
		name     string
		form     url.Values
		status   int
		httpCode int
	}{
		{"missing userName", with("userName", "<del>"), 303, 400},
		{"missing blob", with("blob", "<del>"), 303, 400},
		{"missing clientKey", with("clientKey", "<del>"), 303, 400},
		{"missing deviceName", with("deviceName", "<del>"), 303, 400},
		{"missing action", with("action", "<del>"), 301, 400},
		{"unknown action", with("action", "stealUser"), 302, 400},
		{"blob not base64", with("blob", "%%%not base64"), 303, 400},
		{"clientKey not base64", with("clientKey", "***"), 303, 400},
		{"blob of 1 byte", with("blob", b64(goodBlob[:1])), 303, 400},
		{"blob of 15 bytes", with("blob", b64(goodBlob[:15])), 303, 400},
		{"blob of 16 bytes", with("blob", b64(goodBlob[:16])), 303, 400},
		{"blob of 35 bytes", with("blob", b64(goodBlob[:35])), 303, 400},
		{"bad HMAC", with("blob", b64(badMAC)), 203, 200},
		{"clientKey of 97 bytes", with("clientKey", b64(bytes.Repeat([]byte{1}, 97))), 203, 200},
		{"clientKey 0", with("clientKey", b64([]byte{0})), 203, 200},
		{"clientKey 1", with("clientKey", b64([]byte{1})), 203, 200},
		{"clientKey p-1", with("clientKey", b64(new(big.Int).Sub(p, big.NewInt(1)).Bytes())), 203, 200},
		{"clientKey p", with("clientKey", b64(p.Bytes())), 203, 200},
		{"other user's name (wrong inner key)", with("userName", "mallory"), 202, 200},
		{"blob empty", with("blob", ""), 303, 400},
	}
	before := snapshot(t, f.store.Dir())
	for _, tc := range cases {
		w := f.post(tc.form)
		r := decode(t, w)
		if r.Status != tc.status || w.Code != tc.httpCode || r.Reason == "" {
			t.Errorf("%s: HTTP %d %+v, want status %d HTTP %d with a reason", tc.name, w.Code, r, tc.status, tc.httpCode)
		}
		if tc.status == 203 && r.PublicKey != f.info(t)["publicKey"] {
			t.Errorf("%s: 203 without our current publicKey", tc.name)
		}
	}
	// GET addUser, with every field in the query.
	w := f.do(http.MethodGet, "/?"+good.Encode(), nil, "")
	if r := decode(t, w); r.Status != 102 || w.Code != 400 {
		t.Errorf("GET addUser: HTTP %d %+v", w.Code, r)
	}
	// 10 MB body.
	w = f.do(http.MethodPost, "/", io.MultiReader(strings.NewReader("action=addUser&blob="), strings.NewReader(strings.Repeat("A", 10<<20))), "")
	if r := decode(t, w); w.Code != 413 || r.Status != 102 {
		t.Errorf("10 MB body: HTTP %d %+v", w.Code, r)
	}
	if after := snapshot(t, f.store.Dir()); after != before {
		t.Fatalf("bad input changed the state directory:\nbefore %q\nafter  %q", before, after)
	}
	if f.h.ActiveUser() != "" || len(f.recv.logins) != 0 {
		t.Fatalf("bad input changed the active user %q / logins %d", f.h.ActiveUser(), len(f.recv.logins))
	}
	// And the good form still works afterwards.
	if r := decode(t, f.post(good)); r.Status != 101 {
		t.Fatalf("good form after the battery: %+v", r)
	}
}

func TestAddUserPasswordRefusedNotStoredNotLogged(t *testing.T) {
	f := newFixture(t, nil)
	form := f.form(t, phonetest.Login{Username: "alice", AuthType: creds.AuthUserPass, AuthData: []byte("correct horse battery")})
	w := f.post(form)
	if r := decode(t, w); r.Status != 202 || w.Code != 200 {
		t.Fatalf("password blob: HTTP %d %+v", w.Code, r)
	}
	if snapshot(t, f.store.Dir()) != "" || f.h.ActiveUser() != "" {
		t.Fatal("password blob changed state")
	}
	if strings.Contains(f.logs.String(), "horse") {
		t.Fatal("password logged")
	}
}

func TestAllowedUsers(t *testing.T) {
	f := newFixture(t, func(c *HandlerConfig) { c.AllowedUsers = []string{"Bob"} })
	w := f.post(f.form(t, alice))
	if r := decode(t, w); r.Status != 202 || !strings.Contains(r.Reason, "not allowed") {
		t.Fatalf("alice not in allowlist: %+v", r)
	}
	if !strings.Contains(f.logs.String(), "allowed_users") || snapshot(t, f.store.Dir()) != "" {
		t.Fatal("refusal not logged, or state changed")
	}
	bob := phonetest.Login{Username: "bob", AuthType: 1, AuthData: []byte("b")}
	if r := decode(t, f.post(f.form(t, bob))); r.Status != 101 {
		t.Fatalf("bob (allowed, other case): %+v", r)
	}
}

func TestAddUserRateLimitPerSource(t *testing.T) {
	f := newFixture(t, func(c *HandlerConfig) { c.AddUserRate = 3 })
	form := f.form(t, alice)
	send := func(remote string) int {
		w := f.do(http.MethodPost, "/", strings.NewReader(form.Encode()), remote)
		return decode(t, w).Status
	}
	for i := range 3 {
		if s := send("192.0.2.1:1000"); s != 101 {
			t.Fatalf("attempt %d: status %d", i, s)
		}
	}
	if s := send("192.0.2.1:1001"); s != 202 {
		t.Fatalf("4th attempt in a minute: status %d, want 202", s)
	}
	if !strings.Contains(f.logs.String(), "too many attempts") {
		t.Fatal("rate limit not logged")
	}
	if s := send("192.0.2.2:1000"); s != 101 {
		t.Fatalf("another source is limited too: %d", s)
	}
	f.mu.Lock()
	f.now = f.now.Add(20 * time.Second) // one token back
	f.mu.Unlock()
	if s := send("192.0.2.1:1000"); s != 101 {
		t.Fatalf("after 20 s: status %d", s)
	}
	if s := send("192.0.2.1:1000"); s != 202 {
		t.Fatalf("second after 20 s: status %d", s)
	}
}

func TestResetUsers(t *testing.T) {
	for _, forget := range []bool{false, true} {
		f := newFixture(t, func(c *HandlerConfig) { c.ResetForgets = forget })
		f.post(f.form(t, alice))
		w := f.do(http.MethodPost, "/", strings.NewReader("action=resetUsers"), "")
		if r := decode(t, w); r.Status != 101 || w.Code != 200 {
			t.Fatalf("resetUsers: %+v", r)
		}
		if f.recv.resets != 1 || f.h.ActiveUser() != "" {
			t.Fatalf("reset not handed to the receiver (%d) or active user kept %q", f.recv.resets, f.h.ActiveUser())
		}
		_, stored, _ := f.store.Default()
		if stored == forget {
			t.Fatalf("reset_forgets=%v: credentials still stored = %v", forget, stored)
		}
	}
}

// TestConcurrentAddUser: two phones log in different users at once. The
// handler serialises them; the last one wins everywhere (file, activeUser,
// receiver), and the file is whole.
func TestConcurrentAddUser(t *testing.T) {
	f := newFixture(t, nil)
	bob := phonetest.Login{Username: "bob", AuthType: 1, AuthData: []byte("bob-reusable")}
	forms := []url.Values{f.form(t, alice), f.form(t, bob)}
	for range 5 {
		var wg sync.WaitGroup
		for _, form := range forms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r := decode(t, f.post(form)); r.Status != 101 {
					t.Errorf("status %d", r.Status)
				}
			}()
		}
		wg.Wait()
		def, ok, err := f.store.Default()
		if !ok || err != nil {
			t.Fatalf("credentials.json unreadable: %v", err)
		}
		last := f.recv.logins[len(f.recv.logins)-1]
		wantData := map[string]string{"alice": string(alice.AuthData), "bob": string(bob.AuthData)}
		if string(def.AuthData) != wantData[def.Username] {
			t.Fatalf("credentials.json mixes users: %q with %q", def.Username, def.AuthData)
		}
		if def.Username != last.Username || f.h.ActiveUser() != last.Username {
			t.Fatalf("file %q, active %q, receiver %q disagree", def.Username, f.h.ActiveUser(), last.Username)
		}
		if all, _ := f.store.List(); len(all) != 2 {
			t.Fatalf("both users should be kept, have %d", len(all))
		}
	}
}

func FuzzHandler(f *testing.F) {
	f.Add("POST", "action=addUser&userName=a&blob=AAAA&clientKey=Ag%3D%3D&deviceName=x")
	f.Add("GET", "action=getInfo")
	f.Add("POST", "action=resetUsers")
	f.Add("POST", "action=addUser&userName=alice&blob="+strings.Repeat("A", 60)+"&clientKey="+strings.Repeat("B", 128)+"&deviceName=p")
	f.Add("POST", "%zz=%%&action")
	dir := f.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := NewHandler(HandlerConfig{Info: Info{Name: "n", DeviceID: testDeviceID, Model: "librespot"}, AddUserRate: 1 << 30, Logger: log}, creds.NewStore(dir, log, time.Now), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, body string) {
		if method != "GET" && method != "POST" {
			method = "POST"
		}
		r := httptest.NewRequest(method, "/?"+url.PathEscape(body), strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var resp Response
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || resp.Status == 0 {
			t.Fatalf("answer is not a status body: %q", w.Body)
		}
	})
}

func TestParseDeviceType(t *testing.T) {
	for class, want := range map[string]string{"speaker": "SPEAKER", "castaudio": "CAST_AUDIO", "homething": "HOME_THING", "AVR": "AVR", "audiodongle": "AUDIO_DONGLE"} {
		got, err := ParseDeviceType(class)
		if err != nil || got.String() != want {
			t.Errorf("%s: %v %v, want %s", class, got, err, want)
		}
	}
	if _, err := ParseDeviceType("toaster"); err == nil || !strings.Contains(err.Error(), "toaster") {
		t.Errorf("toaster: %v", err)
	}
}

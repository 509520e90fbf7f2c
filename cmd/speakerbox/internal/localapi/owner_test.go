package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
)

type ownerFakes struct {
	mu       sync.Mutex
	users    []StoredUser
	applied  map[string]any
	logouts  int
	restarts int
}

func (f *ownerFakes) Users() ([]StoredUser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.users), nil
}

func (f *ownerFakes) Forget(username string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.users)
	f.users = slices.DeleteFunc(f.users, func(u StoredUser) bool { return strings.EqualFold(u.Username, username) })
	return len(f.users) < n, nil
}

const ownerConfig = "# kitchen speaker\nname: Kitchen\naudio:\n  max_volume: 90\n"

// ownerServer is a server with every owner part wired: a real settings
// editor over a temporary configuration file and state directory, fakes for
// the rest. It returns the page settings file, which does not exist yet;
// a cleanup checks that the configuration file was never changed.
func ownerServer(t *testing.T, token string) (*Server, *ownerFakes, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "speakerbox.yaml")
	t.Cleanup(func() {
		if data, _ := os.ReadFile(path); string(data) != ownerConfig {
			t.Errorf("the configuration file changed:\n%s", data)
		}
	})
	if err := os.WriteFile(path, []byte(ownerConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	set := config.NewSet()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	set.RegisterFlags(fs)
	if err := fs.Parse([]string{"--config", path}); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	l, err := set.Load(config.Env{Hostname: "h", DefaultStateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	f := &ownerFakes{applied: map[string]any{}, users: []StoredUser{
		{Username: "alice.longname@example.com", Verified: true, LastUsed: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{Username: "bob-the-listener", Verified: false},
	}}
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<!doctype html>page") })
	s, err := New(Config{
		Device: DeviceInfo{Name: "Kitchen"},
		Token:  token,
		Source: StatusSourceFunc(func() ReceiverStatus {
			return ReceiverStatus{Session: StatePlaying, User: "alice.longname@example.com"}
		}),
		Owner: Owner{
			Page: page, PagePaths: []string{"/", "/app.js"},
			Settings: config.NewEditor(l),
			Apply: map[string]func(context.Context, any) error{
				"audio.max_volume": func(_ context.Context, v any) error {
					f.mu.Lock()
					defer f.mu.Unlock()
					f.applied["audio.max_volume"] = v
					return nil
				},
			},
			NextStart: []string{"audio.initial_volume"},
			Restart: func(context.Context) error {
				f.mu.Lock()
				defer f.mu.Unlock()
				f.restarts++
				return nil
			},
			Credentials: f,
			Logout: func(context.Context) error {
				f.mu.Lock()
				defer f.mu.Unlock()
				f.logouts++
				return nil
			},
			Report: func(_ context.Context, w io.Writer) error {
				_, err := io.WriteString(w, "speakerbox report\n")
				return err
			},
			Log: func() []string { return []string{"level=INFO msg=one", "level=INFO msg=two"} },
		},
		Now: func() time.Time { return time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, f, config.SettingsPath(state)
}

// noSettingsFile fails t when the page settings file exists: nothing was
// saved.
func noSettingsFile(t *testing.T, path, what string) {
	t.Helper()
	if data, err := os.ReadFile(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: the page settings file exists (%v):\n%s", what, err, data)
	}
}

type req struct {
	method, path, body string
	hdr                map[string]string
}

func do(t *testing.T, s *Server, r req) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	hr.Host = "127.0.0.1:4080"
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.hdr {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, hr)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func TestSettingsSaveApplyAndRestartNeeded(t *testing.T) {
	s, f, path := ownerServer(t, "")
	res, b := do(t, s, req{method: "GET", path: "/settings"})
	var got settingsBody
	if err := json.Unmarshal(b, &got); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /settings: %d %s", res.StatusCode, b)
	}
	if got.Values["name"] != "Kitchen" || got.Values["audio.max_volume"] != float64(90) || got.File != path {
		t.Fatalf("GET /settings: %s", b)
	}
	res, b = do(t, s, req{method: "PUT", path: "/settings", body: `{"name":"Kitchen","audio.max_volume":70,"gpio.idle_timeout":"10m"}`,
		hdr: map[string]string{"Origin": "http://127.0.0.1:4080"}})
	var a settingsAnswer
	if err := json.Unmarshal(b, &a); err != nil || res.StatusCode != 200 {
		t.Fatalf("PUT /settings: %d %s", res.StatusCode, b)
	}
	if strings.Join(a.Changed, ",") != "audio.max_volume,gpio.idle_timeout" || strings.Join(a.Applied, ",") != "audio.max_volume" ||
		strings.Join(a.RestartNeeded, ",") != "gpio.idle_timeout" || !strings.Contains(a.Message, "Restart needed for: gpio.idle_timeout") {
		t.Errorf("PUT /settings answer: %s", b)
	}
	if f.applied["audio.max_volume"] != 70 {
		t.Errorf("applied %v, want audio.max_volume 70", f.applied)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "max_volume: 70") || !strings.Contains(string(data), "idle_timeout: 10m0s") || strings.Contains(string(data), "name:") {
		t.Errorf("file after PUT:\n%s", data)
	}
}

func TestSettingsRefusedChangeNothing(t *testing.T) {
	s, f, path := ownerServer(t, "tok")
	auth := map[string]string{"Authorization": "Bearer tok"}
	for _, tc := range []struct {
		name string
		r    req
		code int
		key  string
		msg  string
	}{
		{"out of range", req{method: "PUT", path: "/settings", body: `{"name":"New","audio.max_volume":150}`, hdr: auth}, 400, "audio.max_volume",
			`config: audio.max_volume: out of range: value "150" (from web page); allowed: an integer from 0 to 100`},
		{"unknown key", req{method: "PUT", path: "/settings", body: `{"hooks.on_event":"sh"}`, hdr: auth}, 400, "hooks.on_event", "not a setting"},
		{"not an object", req{method: "PUT", path: "/settings", body: `[1]`, hdr: auth}, 400, "", "JSON object"},
		{"no body", req{method: "PUT", path: "/settings", hdr: auth}, 400, "", "JSON object"},
		{"form body", req{method: "PUT", path: "/settings", body: `name=x`, hdr: map[string]string{"Authorization": "Bearer tok", "Content-Type": "application/x-www-form-urlencoded"}}, 415, "", "application/json"},
		{"other origin", req{method: "PUT", path: "/settings", body: `{"name":"Evil"}`, hdr: map[string]string{"Authorization": "Bearer tok", "Origin": "http://evil.example"}}, 403, "", "cross-origin"},
		{"cross-site fetch", req{method: "PUT", path: "/settings", body: `{"name":"Evil"}`, hdr: map[string]string{"Authorization": "Bearer tok", "Sec-Fetch-Site": "cross-site"}}, 403, "", "cross-site"},
		{"no token", req{method: "PUT", path: "/settings", body: `{"name":"Evil"}`}, 401, "", "token"},
	} {
		res, b := do(t, s, tc.r)
		var e settingsError
		_ = json.Unmarshal(b, &e)
		if res.StatusCode != tc.code || e.Key != tc.key || !strings.Contains(e.Error, tc.msg) {
			t.Errorf("%s: %d %s, want %d, key %q, %q", tc.name, res.StatusCode, b, tc.code, tc.key, tc.msg)
		}
		noSettingsFile(t, path, tc.name)
	}
	if len(f.applied) != 0 {
		t.Errorf("applied %v after refusals", f.applied)
	}
	if _, b := do(t, s, req{method: "GET", path: "/settings", hdr: auth}); !strings.Contains(string(b), `"name":"Kitchen"`) {
		t.Errorf("values changed: %s", b)
	}
}

func TestCredentialsShortenedAndForgetByID(t *testing.T) {
	s, f, _ := ownerServer(t, "")
	res, b := do(t, s, req{method: "GET", path: "/credentials"})
	if res.StatusCode != 200 || strings.Contains(string(b), "alice.longname") || strings.Contains(string(b), "bob-the-listener") || strings.Contains(string(b), "auth") {
		t.Fatalf("GET /credentials: %d %s (a whole username or a secret shows)", res.StatusCode, b)
	}
	var c credentialsBody
	if err := json.Unmarshal(b, &c); err != nil || len(c.Users) != 2 {
		t.Fatalf("GET /credentials: %s", b)
	}
	if !c.Users[0].Verified || !c.Users[0].Current || c.Users[1].Verified || c.Users[1].Current || c.Users[0].ID == c.Users[1].ID {
		t.Errorf("users: %+v", c.Users)
	}
	if res, b := do(t, s, req{method: "DELETE", path: "/credentials/" + c.Users[1].ID, hdr: map[string]string{"Origin": "http://evil.example"}}); res.StatusCode != 403 {
		t.Errorf("cross-origin DELETE: %d %s", res.StatusCode, b)
	}
	if res, b := do(t, s, req{method: "DELETE", path: "/credentials/0000"}); res.StatusCode != 404 {
		t.Errorf("DELETE unknown id: %d %s", res.StatusCode, b)
	}
	if len(f.users) != 2 {
		t.Fatalf("users forgotten by refused requests: %v", f.users)
	}
	if res, b := do(t, s, req{method: "DELETE", path: "/credentials/" + c.Users[1].ID}); res.StatusCode != 204 {
		t.Fatalf("DELETE: %d %s", res.StatusCode, b)
	}
	if len(f.users) != 1 || f.users[0].Username != "alice.longname@example.com" {
		t.Errorf("after forgetting bob: %v", f.users)
	}
}

func TestLogoutReportLogAndThePageWithoutToken(t *testing.T) {
	s, f, _ := ownerServer(t, "tok")
	auth := map[string]string{"Authorization": "Bearer tok"}
	if res, b := do(t, s, req{method: "POST", path: "/session/logout", hdr: map[string]string{"Authorization": "Bearer tok", "Origin": "https://evil.example"}}); res.StatusCode != 403 || f.logouts != 0 {
		t.Errorf("cross-origin logout: %d %s, %d logouts", res.StatusCode, b, f.logouts)
	}
	if res, b := do(t, s, req{method: "POST", path: "/session/logout", hdr: auth}); res.StatusCode != 204 || f.logouts != 1 {
		t.Errorf("logout: %d %s, %d logouts", res.StatusCode, b, f.logouts)
	}
	res, b := do(t, s, req{method: "GET", path: "/report", hdr: auth})
	if res.StatusCode != 200 || string(b) != "speakerbox report\n" ||
		res.Header.Get("Content-Disposition") != `attachment; filename="speakerbox-report-20261204-020000.txt"` {
		t.Errorf("report: %d %q %q", res.StatusCode, res.Header.Get("Content-Disposition"), b)
	}
	if res, b := do(t, s, req{method: "GET", path: "/log", hdr: auth}); res.StatusCode != 200 || string(b) != `{"lines":["level=INFO msg=one","level=INFO msg=two"]}`+"\n" {
		t.Errorf("log: %d %s", res.StatusCode, b)
	}
	// The page goes without the token (it asks for it); nothing else does.
	if res, b := do(t, s, req{method: "GET", path: "/"}); res.StatusCode != 200 || !strings.Contains(string(b), "page") {
		t.Errorf("GET / without token: %d %s", res.StatusCode, b)
	}
	for _, p := range []string{"/status", "/settings", "/credentials", "/report", "/log", "/index.html"} {
		if res, _ := do(t, s, req{method: "GET", path: p}); res.StatusCode != 401 {
			t.Errorf("GET %s without token: %d, want 401", p, res.StatusCode)
		}
	}
	if res, _ := do(t, s, req{method: "POST", path: "/", body: "{}"}); res.StatusCode != 401 {
		t.Errorf("POST / without token: %d, want 401", res.StatusCode)
	}
}

func TestOwnerPartsMissingAnswer503(t *testing.T) {
	s, err := New(Config{Device: DeviceInfo{Name: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []req{{method: "GET", path: "/settings"}, {method: "PUT", path: "/settings", body: `{"name":"x"}`},
		{method: "GET", path: "/credentials"}, {method: "DELETE", path: "/credentials/ab"}, {method: "POST", path: "/session/logout"},
		{method: "GET", path: "/report"}, {method: "GET", path: "/log"}} {
		if res, b := do(t, s, r); res.StatusCode != 503 {
			t.Errorf("%s %s: %d %s, want 503", r.method, r.path, res.StatusCode, b)
		}
	}
	if res, _ := do(t, s, req{method: "GET", path: "/"}); res.StatusCode != 404 {
		t.Errorf("GET / with no page: %d", res.StatusCode)
	}
}

// FuzzOwnerRoutes: any body or id from the network gets an answer, never a
// panic, and a refused settings change leaves the file as it was.
func FuzzOwnerRoutes(f *testing.F) {
	f.Add(uint8(1), "/settings", `{"audio.max_volume":80}`)
	f.Add(uint8(1), "/settings", `{"name":"\u0000"}`)
	f.Add(uint8(1), "/settings", `{"gpio.warmup":1e400}`)
	f.Add(uint8(1), "/settings", `{"name":{"a":1}}`)
	f.Add(uint8(3), "/credentials/%00", ``)
	f.Add(uint8(2), "/session/logout", `{"x":1}`)
	f.Fuzz(func(t *testing.T, m uint8, path, body string) {
		methods := []string{"GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"}
		method := methods[int(m)%len(methods)]
		if u, err := url.ParseRequestURI(path); err != nil || u.Path != path || strings.ContainsAny(path, " \t\r\n") {
			return // not a request line httptest can make
		}
		s, _, file := ownerServer(t, "")
		res, b := do(t, s, req{method: method, path: path, body: body})
		if res.StatusCode >= 500 && res.StatusCode != 503 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, res.StatusCode, b)
		}
		if data, err := os.ReadFile(file); res.StatusCode != 200 && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s %s %q: %d, and the page settings file was written:\n%s", method, path, body, res.StatusCode, data)
		}
	})
}

// DNS rebinding: a page of evil.example whose name now points at
// 127.0.0.1 is the same origin as the API for the browser. Without a token
// the owner's routes answer only to an address or localhost (the guard's
// rule).
func TestRefusesOtherHostNamesWithoutToken(t *testing.T) {
	s, f, path := ownerServer(t, "")
	for _, host := range []string{"evil.example:4080", "evil.example", "127.0.0.1.evil.example:4080", ""} {
		for _, r := range []req{
			{method: "PUT", path: "/settings", body: `{"name":"Evil"}`, hdr: map[string]string{"Origin": "http://" + host}},
			{method: "POST", path: "/session/logout", hdr: map[string]string{"Origin": "http://" + host}},
			{method: "GET", path: "/settings"},
			{method: "GET", path: "/report"},
			{method: "GET", path: "/credentials"},
			{method: "GET", path: "/log"},
		} {
			hr := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
			hr.Host = host
			if r.body != "" {
				hr.Header.Set("Content-Type", "application/json")
			}
			for k, v := range r.hdr {
				hr.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, hr)
			if rec.Code != 403 || !strings.Contains(rec.Body.String(), "refused") {
				t.Errorf("Host %q, %s %s: %d %s, want 403", host, r.method, r.path, rec.Code, rec.Body)
			}
		}
	}
	noSettingsFile(t, path, "refused requests")
	if f.logouts != 0 {
		t.Errorf("logged out by refused requests: %d", f.logouts)
	}
	for _, host := range []string{"127.0.0.1:4080", "[::1]:4080", "localhost:4080", "LOCALHOST", "127.0.0.2:80", "192.168.1.20:4080"} {
		hr := httptest.NewRequest("GET", "/settings", nil)
		hr.Host = host
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, hr)
		if rec.Code != 200 {
			t.Errorf("Host %q: %d %s, want 200", host, rec.Code, rec.Body)
		}
	}
	// With a token any name will do: a page elsewhere has no token.
	s, _, _ = ownerServer(t, "0123456789abcdef")
	hr := httptest.NewRequest("GET", "/settings", nil)
	hr.Host = "speaker.lan:4080"
	hr.Header.Set("Authorization", "Bearer 0123456789abcdef")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, hr)
	if rec.Code != 200 {
		t.Errorf("with the token, Host speaker.lan: %d %s", rec.Code, rec.Body)
	}
}

// The settings' answer sorts every changed key into applied, next start or
// restart needed; pending_restart gathers what a restart would change and
// forgets a key set back to its value at start.
func TestSettingsNextStartAndPendingRestart(t *testing.T) {
	s, f, _ := ownerServer(t, "")
	put := func(body string) settingsAnswer {
		t.Helper()
		res, b := do(t, s, req{method: "PUT", path: "/settings", body: body})
		var a settingsAnswer
		if err := json.Unmarshal(b, &a); err != nil || res.StatusCode != 200 {
			t.Fatalf("PUT /settings %s: %d %s", body, res.StatusCode, b)
		}
		return a
	}
	a := put(`{"audio.initial_volume":20,"audio.max_volume":60,"gpio.relay_line":"GPIO17"}`)
	if strings.Join(a.Applied, ",") != "audio.max_volume" || strings.Join(a.NextStart, ",") != "audio.initial_volume" ||
		strings.Join(a.RestartNeeded, ",") != "gpio.relay_line" || strings.Join(a.PendingRestart, ",") != "gpio.relay_line" {
		t.Errorf("answer: applied %q next_start %q restart_needed %q pending %q", a.Applied, a.NextStart, a.RestartNeeded, a.PendingRestart)
	}
	if !strings.Contains(a.Message, "At the next start: audio.initial_volume.") || !strings.Contains(a.Message, "Restart needed for: gpio.relay_line.") {
		t.Errorf("message %q", a.Message)
	}
	a = put(`{"gpio.idle_timeout":"1m"}`)
	if strings.Join(a.PendingRestart, ",") != "gpio.idle_timeout,gpio.relay_line" {
		t.Errorf("pending after a second key: %q", a.PendingRestart)
	}
	_, b := do(t, s, req{method: "GET", path: "/settings"})
	var got settingsBody
	if err := json.Unmarshal(b, &got); err != nil || strings.Join(got.PendingRestart, ",") != "gpio.idle_timeout,gpio.relay_line" {
		t.Errorf("GET /settings pending: %s", b)
	}
	// Back to the value at start: nothing to restart for.
	a = put(`{"gpio.relay_line":"","gpio.idle_timeout":"5m0s"}`)
	if len(a.PendingRestart) != 0 {
		t.Errorf("pending after setting both back: %q", a.PendingRestart)
	}
	if f.restarts != 0 {
		t.Errorf("a save restarted the speaker")
	}
}

func TestRestartRoute(t *testing.T) {
	s, f, _ := ownerServer(t, "tok")
	auth := map[string]string{"Authorization": "Bearer tok"}
	for _, tc := range []struct {
		name string
		r    req
		code int
	}{
		{"no token", req{method: "POST", path: "/restart"}, 401},
		{"other origin", req{method: "POST", path: "/restart", hdr: map[string]string{"Authorization": "Bearer tok", "Origin": "http://evil.example"}}, 403},
		{"cross-site", req{method: "POST", path: "/restart", hdr: map[string]string{"Authorization": "Bearer tok", "Sec-Fetch-Site": "cross-site"}}, 403},
		{"a body", req{method: "POST", path: "/restart", body: `{"now":true}`, hdr: auth}, 400},
		{"GET", req{method: "GET", path: "/restart", hdr: auth}, 405},
	} {
		if res, b := do(t, s, tc.r); res.StatusCode != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, res.StatusCode, b, tc.code)
		}
	}
	if f.restarts != 0 {
		t.Fatalf("a refused request restarted the speaker %d times", f.restarts)
	}
	res, b := do(t, s, req{method: "POST", path: "/restart", hdr: map[string]string{"Authorization": "Bearer tok", "Origin": "http://127.0.0.1:4080"}})
	if res.StatusCode != 202 || !strings.Contains(string(b), "Restarting") || f.restarts != 1 {
		t.Errorf("POST /restart: %d %s, %d restarts", res.StatusCode, b, f.restarts)
	}

	bare, err := New(Config{Device: DeviceInfo{Name: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if res, b := do(t, bare, req{method: "POST", path: "/restart"}); res.StatusCode != 503 {
		t.Errorf("without Restart: %d %s, want 503", res.StatusCode, b)
	}
	fail, err := New(Config{Device: DeviceInfo{Name: "x"}, Owner: Owner{Restart: func(context.Context) error { return errors.New("exec refused") }}})
	if err != nil {
		t.Fatal(err)
	}
	if res, b := do(t, fail, req{method: "POST", path: "/restart"}); res.StatusCode != 500 || !strings.Contains(string(b), "exec refused") {
		t.Errorf("a failing Restart: %d %s, want 500", res.StatusCode, b)
	}
}

// The status says when the speaker started, and follows a rename.
func TestStatusStartedAndSetName(t *testing.T) {
	s, _, _ := ownerServer(t, "")
	var st Status
	_, b := do(t, s, req{method: "GET", path: "/status"})
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC); !st.Device.Started.Equal(want) || st.Device.Name != "Kitchen" {
		t.Errorf("device %+v, want Kitchen started %v", st.Device, want)
	}
	s.SetName("Living room")
	_, b = do(t, s, req{method: "GET", path: "/status"})
	if err := json.Unmarshal(b, &st); err != nil || st.Device.Name != "Living room" {
		t.Errorf("after SetName: %s", b)
	}
}

package localapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzParseControl: no body makes parseControl panic, and what it accepts
// is a valid command of the route's kind.
func FuzzParseControl(f *testing.F) {
	for _, s := range []string{"", "{}", `{"position_ms": 61000}`, `{"percent": 40}`, `{"percent": 1e2}`, `{"position_ms": -1}`,
		`{"percent": 10}{}`, `[1]`, `null`, `{"percent": "10"}`, `{"a":{"b":[1,2,{"c":null}]}}`, "\xff", `{"percent": 100, "percent": 101}`} {
		for k := Play; k <= Volume; k++ {
			f.Add(uint8(k), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		k := ControlKind(kind % 8)
		c, err := parseControl(k, body)
		if err != nil {
			if c != (Control{}) {
				t.Fatalf("error %v with a command %+v", err, c)
			}
			if err.Error() == "" {
				t.Fatal("error without a reason")
			}
			return
		}
		if c.Kind != k || k < Play || k > Volume {
			t.Fatalf("kind %d accepted as %+v", k, c)
		}
		if c.PositionMs < 0 || c.PositionMs > maxSeekMs || (k != Seek && c.PositionMs != 0) || (k != Volume && c.Volume != 0) {
			t.Fatalf("out of range: %+v from %q", c, body)
		}
		if trimmed := strings.TrimSpace(string(body)); trimmed != "" && !json.Valid(body) {
			t.Fatalf("invalid JSON accepted: %q", body)
		}
	})
}

// FuzzHandler sends arbitrary requests through the whole handler: no
// panic, always a known status, and nothing reaches the controller unless
// the answer is 204.
func FuzzHandler(f *testing.F) {
	f.Add("POST", "/player/seek", "application/json", "", []byte(`{"position_ms": 5}`))
	f.Add("POST", "/player/volume", "application/json; charset=utf-8", "http://evil", []byte(`{"percent": 5}`))
	f.Add("GET", "/status", "", "", []byte(nil))
	f.Add("POST", "/relay/auto", "text/plain", "", []byte("{}"))
	f.Add("DELETE", "/zeroconf/reset-users", "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, method, path, ct, origin string, body []byte) {
		ctrl := &fakeController{}
		s, err := New(Config{Device: DeviceInfo{Name: "x"}, Controller: ctrl, Relay: &fakeRelay{mode: RelayAuto}, ZeroConf: &fakeZeroConf{}})
		if err != nil {
			t.Fatal(err)
		}
		if path == "/events" || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " ?#%\x00\r\n\t") || !validMethod(method) {
			return // a stream, or not a request line a server would parse
		}
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:4070/", strings.NewReader(string(body)))
		req.Method, req.URL.Path, req.ContentLength = method, path, int64(len(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Origin", origin)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		switch w.Code {
		case 200, 204, 400, 403, 404, 405, 409, 415, 503,
			301, 307, 308: // the mux redirects to the cleaned path (/a/../status)
		default:
			t.Fatalf("%s %s: status %d", method, path, w.Code)
		}
		if calls := ctrl.Calls(); len(calls) > 0 && w.Code != 204 {
			t.Fatalf("%s %s answered %d after reaching the controller", method, path, w.Code)
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, r := range m {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

package webui

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestServesThePage(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for path, ctype := range map[string]string{"/": "text/html", "/index.html": "text/html", "/app.js": "javascript", "/style.css": "text/css"} {
		res := get(t, h, "GET", path, nil)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), ctype) || len(body) == 0 {
			t.Errorf("GET %s: %d %q, %d bytes", path, res.StatusCode, res.Header.Get("Content-Type"), len(body))
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
	}
	index := get(t, h, "GET", "/", nil)
	body, _ := io.ReadAll(index.Body)
	for _, want := range []string{`src="app.js"`, `href="style.css"`, `id="volume"`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("index.html lacks %s", want)
		}
	}
}

func TestGzipAndETag(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	plain := get(t, h, "GET", "/app.js", nil)
	raw, _ := io.ReadAll(plain.Body)
	if plain.Header.Get("Content-Encoding") != "" {
		t.Fatalf("compressed without Accept-Encoding")
	}
	res := get(t, h, "GET", "/app.js", map[string]string{"Accept-Encoding": "br, gzip"})
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q with Accept-Encoding gzip", res.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	unz, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unz, raw) {
		t.Fatalf("gzip body does not decompress to the file (err %v)", err)
	}
	if r := get(t, h, "GET", "/app.js", map[string]string{"Accept-Encoding": "gzip;q=0"}); r.Header.Get("Content-Encoding") != "" {
		t.Errorf("compressed although gzip;q=0")
	}
	etag := plain.Header.Get("ETag")
	if r := get(t, h, "GET", "/app.js", map[string]string{"If-None-Match": etag}); r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %s: %d, want 304", etag, r.StatusCode)
	}
	rawSize, gz := h.Size()
	if gz >= rawSize || rawSize < len(raw) {
		t.Errorf("Size() = %d raw, %d gzipped", rawSize, gz)
	}
	t.Logf("page transfer size: %d bytes raw, %d gzipped", rawSize, gz)
}

func TestRefusesOtherPathsAndMethods(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if r := get(t, h, "GET", "/static/app.js", nil); r.StatusCode != 404 {
		t.Errorf("GET /static/app.js: %d, want 404", r.StatusCode)
	}
	if r := get(t, h, "GET", "/../webui.go", nil); r.StatusCode != 404 {
		t.Errorf("GET /../webui.go: %d, want 404", r.StatusCode)
	}
	if r := get(t, h, "POST", "/", nil); r.StatusCode != 405 {
		t.Errorf("POST /: %d, want 405", r.StatusCode)
	}
}

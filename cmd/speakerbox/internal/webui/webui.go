// Package webui is the owner's web page of a speaker: a few static files
// embedded in the binary (no build chain, nothing on disk) that talk to the
// local API (GET /status, GET /events, POST controls, /settings,
// /credentials). The API server mounts Handler at "/".
package webui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// contentSecurityPolicy keeps the page to its own origin: its scripts,
// styles and requests come from the speaker only. Covers are Spotify's
// images (https), and the page may not be framed (clickjacking the volume
// slider).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' https: data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// file is one embedded file, ready to send.
type file struct {
	name  string
	ctype string
	raw   []byte
	gz    []byte // nil when compression does not pay
	etag  string
}

// Handler serves the page. Its zero value is not usable; use New.
type Handler struct {
	files map[string]*file // by URL path
}

// New prepares the embedded files: each is compressed once here so that
// a request costs no compression.
func New() (*Handler, error) {
	h := &Handler{files: map[string]*file{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		f := &file{name: p, raw: raw, ctype: mime.TypeByExtension(path.Ext(p))}
		if f.ctype == "" {
			f.ctype = "application/octet-stream"
		}
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		if _, err := zw.Write(raw); err != nil {
			return fmt.Errorf("compress %s: %w", p, err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("compress %s: %w", p, err)
		}
		if b.Len() < len(raw) {
			f.gz = b.Bytes()
		}
		sum := sha256.Sum256(raw)
		f.etag = `"` + hex.EncodeToString(sum[:8]) + `"`
		url := strings.TrimPrefix(p, "static")
		h.files[url] = f
		if strings.HasSuffix(url, "/index.html") {
			h.files[strings.TrimSuffix(url, "index.html")] = f
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web page files: %w", err)
	}
	return h, nil
}

// Paths lists the URL paths the handler answers, for a route table.
func (h *Handler) Paths() []string {
	out := make([]string, 0, len(h.files))
	for p := range h.files {
		out = append(out, p)
	}
	return out
}

// Size is the page's transfer size: all its files, raw and as sent
// compressed.
func (h *Handler) Size() (raw, gzipped int) {
	seen := map[*file]bool{}
	for _, f := range h.files {
		if seen[f] {
			continue
		}
		seen[f] = true
		raw += len(f.raw)
		if f.gz != nil {
			gzipped += len(f.gz)
		} else {
			gzipped += len(f.raw)
		}
	}
	return raw, gzipped
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := h.files[r.URL.Path]
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "{\"error\":%q}\n", "no such page: "+r.URL.Path)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		fmt.Fprintf(w, "{\"error\":%q}\n", r.Method+" not allowed on "+r.URL.Path)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	// The files change only with the binary: the browser asks again each
	// time and gets a 304 while the ETag holds.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	hd.Add("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.raw
	if f.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		hd.Set("Content-Encoding", "gzip")
		body = f.gz
	}
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			return strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0"
		}
	}
	return false
}

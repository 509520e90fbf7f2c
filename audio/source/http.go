// Package source provides random-access byte sources for the audio chain:
// an HTTP server answering Range requests (the CDN, or a test server).
package source

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// HTTP reads a remote file with Range requests. It is safe for concurrent
// use.
type HTTP struct {
	ctx    context.Context
	client *http.Client
	url    string
	size   int64
}

// OpenHTTP learns the size of the file at url (a one-byte Range request) and
// returns a ReaderAt over it. ctx bounds every later request.
func OpenHTTP(ctx context.Context, client *http.Client, url string) (*HTTP, error) {
	h := &HTTP{ctx: ctx, client: client, url: url}
	resp, err := h.get(0, 0)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	cr := resp.Header.Get("Content-Range") // "bytes 0-0/12345"
	i := strings.LastIndexByte(cr, '/')
	if i < 0 {
		return nil, fmt.Errorf("fetch %s: no size in Content-Range %q", url, cr)
	}
	h.size, err = strconv.ParseInt(cr[i+1:], 10, 64)
	if err != nil || h.size < 0 {
		return nil, fmt.Errorf("fetch %s: bad size in Content-Range %q", url, cr)
	}
	return h, nil
}

// Size is the length of the file in bytes.
func (h *HTTP) Size() int64 { return h.size }

func (h *HTTP) get(first, last int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(h.ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", h.url, err)
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", first, last))
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s bytes %d-%d: %w", h.url, first, last, err)
	}
	if resp.StatusCode != http.StatusPartialContent {
		resp.Body.Close()
		return nil, fmt.Errorf("fetch %s bytes %d-%d: status %s (want 206)", h.url, first, last, resp.Status)
	}
	return resp, nil
}

// ReadAt fetches len(p) bytes at off (fewer, with io.EOF, at the end).
func (h *HTTP) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("fetch %s: negative offset %d", h.url, off)
	}
	if off >= h.size {
		return 0, io.EOF
	}
	want := p
	if rest := h.size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	if len(want) == 0 {
		return 0, nil
	}
	resp, err := h.get(off, off+int64(len(want))-1)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.ReadFull(resp.Body, want)
	if err != nil {
		return n, fmt.Errorf("fetch %s bytes at %d: %w", h.url, off, err)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

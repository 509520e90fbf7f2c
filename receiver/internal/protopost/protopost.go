// Package protopost sends one protobuf POST to a Spotify service that
// answers in protobuf (client token, login5) and reads a bounded answer.
// The callers keep their own status errors and retry rules.
package protopost

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	librespot "github.com/devgianlu/go-librespot"
)

// MaxResponse bounds an answer: both services answer in a few KiB.
const MaxResponse = 1 << 20

// Response is a read answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Snippet is the start of a body for an error message (at most 200 bytes).
func (r *Response) Snippet() string {
	if len(r.Body) > 200 {
		return string(r.Body[:200])
	}
	return string(r.Body)
}

// Do posts body to url with the protobuf headers and extra (may be nil);
// errors are prefixed with op, e.g. "login5".
func Do(ctx context.Context, client *http.Client, op, url string, body []byte, extra http.Header) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: build request: %w", op, err)
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/x-protobuf")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", librespot.UserAgent())
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse))
	if err != nil {
		return nil, fmt.Errorf("%s: read response: %w", op, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

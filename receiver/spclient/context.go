package spclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	playerpb "github.com/devgianlu/go-librespot/proto/spotify/player"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// ErrContextLoading is a context Spotify answered with "loading": true; it
// has no tracks yet.
var ErrContextLoading = errors.New("spclient: context is still loading")

// ResolveContext fetches a context with its first pages: GET
// /context-resolve/v1/<context uri>. A context still loading is
// ErrContextLoading. The result is decoded as DecodeContext does.
func (c *Client) ResolveContext(ctx context.Context, uri string) (*connectpb.Context, error) {
	if uri == "" {
		return nil, errors.New("spclient: resolve context: empty uri")
	}
	resp, err := c.Do(ctx, Request{Method: http.MethodGet, Path: "context-resolve/v1/" + url.PathEscape(uri)})
	if err != nil {
		return nil, fmt.Errorf("resolve context %q: %w", uri, err)
	}
	sc, err := DecodeContext(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("resolve context %q: %w", uri, err)
	}
	if sc.GetLoading() {
		return nil, fmt.Errorf("resolve context %q: %w", uri, ErrContextLoading)
	}
	return sc, nil
}

// ContextPage fetches one page of a context from its page_url or
// next_page_url ("hm://<path>?<query>"), mapped to GET
// https://<spclient>/<path>?<query> with the query kept exactly as given.
func (c *Client) ContextPage(ctx context.Context, pageURL string) (*connectpb.ContextPage, error) {
	p, err := PagePath(pageURL)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(ctx, Request{Method: http.MethodGet, Path: p})
	if err != nil {
		return nil, fmt.Errorf("context page %q: %w", pageURL, err)
	}
	page, err := DecodeContextPage(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("context page %q: %w", pageURL, err)
	}
	return page, nil
}

// Autoplay asks for a station to follow a finished context: POST
// /context-resolve/v1/autoplay with the AutoplayContextRequest as protobuf,
// answered with a JSON Context ("spotify:station:..."). A 404 (no station)
// is a *StatusError with Status 404. Marking the tracks as autoplay tracks
// is the caller's business (it must also mark the pages it loads later).
func (c *Client) Autoplay(ctx context.Context, req *playerpb.AutoplayContextRequest) (*connectpb.Context, error) {
	if req.GetContextUri() == "" {
		return nil, errors.New("spclient: autoplay: no context uri")
	}
	body, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("spclient: autoplay: encode request: %w", err)
	}
	resp, err := c.Do(ctx, Request{Method: http.MethodPost, Path: "context-resolve/v1/autoplay", Body: body})
	if err != nil {
		return nil, fmt.Errorf("autoplay for %q: %w", req.GetContextUri(), err)
	}
	sc, err := DecodeContext(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("autoplay for %q: %w", req.GetContextUri(), err)
	}
	if sc.GetLoading() {
		return nil, fmt.Errorf("autoplay for %q: %w", req.GetContextUri(), ErrContextLoading)
	}
	return sc, nil
}

// PagePath maps a page URL "hm://<path>[?<query>]" to the spclient request
// path "<path>[?<query>]", the query byte for byte. (go-librespot v0.7.4
// joined the whole string as a path, which escaped the "?" and broke every
// page URL with a query.)
func PagePath(pageURL string) (string, error) {
	rest, ok := strings.CutPrefix(pageURL, "hm://")
	if !ok {
		return "", fmt.Errorf("spclient: page url %q: want hm://<path>", pageURL)
	}
	rest = strings.TrimLeft(rest, "/")
	path, _, _ := strings.Cut(rest, "?")
	if path == "" || strings.ContainsAny(rest, "#\\ \t\r\n") {
		return "", fmt.Errorf("spclient: page url %q: want hm://<path>", pageURL)
	}
	return rest, nil
}

// The JSON of context-resolve and pages is protobuf JSON of connectpb's
// Context and ContextPage. protojson reads both spellings of a field name
// (Spotify's and go-librespot's snake_case "page_url", protobuf's canonical
// "pageUrl") and the bytes field gid in every base64 form (standard or URL
// alphabet, padded or not), where encoding/json takes only padded standard
// base64 and only the names in the struct tags. Unknown fields are skipped:
// Spotify adds fields over time.
var contextJSON = protojson.UnmarshalOptions{DiscardUnknown: true}

// DecodeContext decodes a context-resolve answer. Every page, track and
// metadata map in the result is non-nil, so callers may write metadata
// (such as autoplay.is_autoplay) without checks.
func DecodeContext(b []byte) (*connectpb.Context, error) {
	var sc connectpb.Context
	if err := contextJSON.Unmarshal(b, &sc); err != nil {
		return nil, fmt.Errorf("decode context JSON: %w", err)
	}
	if sc.Metadata == nil {
		sc.Metadata = map[string]string{}
	}
	pages := sc.Pages[:0]
	for _, p := range sc.Pages {
		if p != nil {
			fillPage(p)
			pages = append(pages, p)
		}
	}
	sc.Pages = pages
	return &sc, nil
}

// DecodeContextPage decodes a page answer, with the guarantees of
// DecodeContext.
func DecodeContextPage(b []byte) (*connectpb.ContextPage, error) {
	var p connectpb.ContextPage
	if err := contextJSON.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode context page JSON: %w", err)
	}
	fillPage(&p)
	return &p, nil
}

func fillPage(p *connectpb.ContextPage) {
	if p.Metadata == nil {
		p.Metadata = map[string]string{}
	}
	tracks := p.Tracks[:0]
	for _, t := range p.Tracks {
		if t == nil {
			continue
		}
		if t.Metadata == nil {
			t.Metadata = map[string]string{}
		}
		tracks = append(tracks, t)
	}
	p.Tracks = tracks
}

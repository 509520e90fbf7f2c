package spclient

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	downloadpb "github.com/devgianlu/go-librespot/proto/spotify/download"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/audio/source"
)

// StorageResolveError is a storage-resolve answer that gives no CDN URL:
// a result other than CDN (STORAGE, RESTRICTED) or no URLs at all.
type StorageResolveError struct {
	FileID string // hex
	Result downloadpb.StorageResolveResponse_Result
	Reason string
}

func (e *StorageResolveError) Error() string {
	return fmt.Sprintf("storage-resolve %s: %s (result %s)", e.FileID, e.Reason, e.Result)
}

// Is makes every StorageResolveError match ErrUnavailable: the file cannot
// be played through the CDN.
func (e *StorageResolveError) Is(target error) bool { return target == ErrUnavailable }

// StorageResolvePath is the request path for one audio file: the
// interactive form, or interactive_prefetch for a prefetch.
func StorageResolvePath(format int32, fileID []byte, prefetch bool) string {
	kind := "interactive"
	if prefetch {
		kind = "interactive_prefetch"
	}
	return "storage-resolve/v2/files/audio/" + kind + "/" + strconv.FormatInt(int64(format), 10) + "/" + hex.EncodeToString(fileID)
}

// StorageResolve asks where audio file fileID (20 bytes) of the given
// format (metadata.AudioFile_Format number) is served: GET
// /storage-resolve/v2/files/audio/interactive[_prefetch]/<format>/<hex>.
// The answer must be CDN with at least one URL; anything else is a
// *StorageResolveError.
func (c *Client) StorageResolve(ctx context.Context, format int32, fileID []byte, prefetch bool) ([]source.URL, error) {
	if len(fileID) != 20 {
		return nil, fmt.Errorf("storage-resolve: file id of %d bytes, want 20", len(fileID))
	}
	resp, err := c.Do(ctx, Request{Method: http.MethodGet, Path: StorageResolvePath(format, fileID, prefetch)})
	if err != nil {
		return nil, fmt.Errorf("storage-resolve %x: %w", fileID, err)
	}
	return DecodeStorageResolve(resp.Body, fileID)
}

// DecodeStorageResolve reads a StorageResolveResponse body into CDN URLs
// with their expiry (ParseCDNExpiry). Relative or non-https URLs are
// dropped; none left is a *StorageResolveError.
func DecodeStorageResolve(body []byte, fileID []byte) ([]source.URL, error) {
	id := hex.EncodeToString(fileID)
	var m downloadpb.StorageResolveResponse
	if err := proto.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("storage-resolve %s: decode answer: %w", id, err)
	}
	if m.GetResult() != downloadpb.StorageResolveResponse_CDN {
		return nil, &StorageResolveError{FileID: id, Result: m.GetResult(), Reason: "not served by the CDN"}
	}
	var out []source.URL
	for _, raw := range m.GetCdnurl() {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			continue
		}
		exp, _ := ParseCDNExpiry(raw)
		out = append(out, source.URL{URL: raw, Expires: exp})
	}
	if len(out) == 0 {
		return nil, &StorageResolveError{FileID: id, Result: m.GetResult(), Reason: fmt.Sprintf("no usable CDN URL among %d", len(m.GetCdnurl()))}
	}
	return out, nil
}

// ParseCDNExpiry reads the expiry a CDN URL carries in its query, in the
// three forms Spotify's CDNs use: "__token__=exp=<unix>~hmac=…",
// "Expires=<unix>~FullPath~hmac=…", and "?<unix>_<signature>". ok is false
// for any other URL (no known expiry).
func ParseCDNExpiry(raw string) (t time.Time, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return time.Time{}, false
	}
	unix := func(s string) (time.Time, bool) {
		if s == "" || len(s) > 12 || strings.Trim(s, "0123456789") != "" {
			return time.Time{}, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return time.Time{}, false
		}
		return time.Unix(n, 0), true
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err == nil {
		if tok := q.Get("__token__"); tok != "" {
			for _, part := range strings.Split(tok, "~") {
				if v, found := strings.CutPrefix(part, "exp="); found {
					return unix(v)
				}
			}
			return time.Time{}, false
		}
		if e := q.Get("Expires"); e != "" {
			v, _, _ := strings.Cut(e, "~")
			return unix(v)
		}
	}
	v, _, found := strings.Cut(u.RawQuery, "_")
	if !found {
		return time.Time{}, false
	}
	return unix(v)
}

// DefaultCDNRefreshMargin: URLs are resolved again this long before the
// first of them expires (librespot drops URLs 5 minutes before expiry).
const DefaultCDNRefreshMargin = 5 * time.Minute

// CDNURLs is a source.URLSource over storage-resolve for one audio file.
// It caches the URLs and resolves again when asked to refresh, or when the
// first URL is within RefreshMargin of its expiry. Safe for concurrent use.
type CDNURLs struct {
	c        *Client
	format   int32
	fileID   []byte
	prefetch bool
	now      func() time.Time
	margin   time.Duration

	mu   sync.Mutex
	urls []source.URL
}

// NewCDNURLs returns the URL source of file fileID in format. prefetch
// uses the interactive_prefetch form for every lookup. now is the clock
// (time.Now when nil); margin ≤ 0 means DefaultCDNRefreshMargin.
func NewCDNURLs(c *Client, format int32, fileID []byte, prefetch bool, now func() time.Time, margin time.Duration) *CDNURLs {
	if now == nil {
		now = time.Now
	}
	if margin <= 0 {
		margin = DefaultCDNRefreshMargin
	}
	return &CDNURLs{c: c, format: format, fileID: append([]byte(nil), fileID...), prefetch: prefetch, now: now, margin: margin}
}

// URLs returns the cached URLs, or resolves them again (refresh, none
// cached, or the first one about to expire).
func (s *CDNURLs) URLs(ctx context.Context, refresh bool) ([]source.URL, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !refresh && len(s.urls) > 0 {
		exp := s.urls[0].Expires
		if exp.IsZero() || s.now().Add(s.margin).Before(exp) {
			return append([]source.URL(nil), s.urls...), nil
		}
	}
	urls, err := s.c.StorageResolve(ctx, s.format, s.fileID, s.prefetch)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			s.urls = nil
		}
		return nil, err
	}
	s.urls = urls
	return append([]source.URL(nil), urls...), nil
}

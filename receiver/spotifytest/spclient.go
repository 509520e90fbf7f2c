package spotifytest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	playerpb "github.com/devgianlu/go-librespot/proto/spotify/player"
	"google.golang.org/protobuf/proto"
)

// ConnectStatePut is one PUT /connect-state/v1/devices/<id> the fake took.
type ConnectStatePut struct {
	DeviceID     string
	ConnectionID string // the X-Spotify-Connection-Id header
	Reason       connectpb.PutStateReason
	Request      *connectpb.PutStateRequest
	Body         []byte // as received
	Header       http.Header
}

// ConnectStateInactive is one PUT /connect-state/v1/devices/<id>/inactive.
type ConnectStateInactive struct {
	DeviceID     string
	ConnectionID string
	RawQuery     string
}

// SpclientServer is the spclient half of the fake Spotify: connect-state
// PUTs and the inactive call (recorded), context-resolve, context pages and
// autoplay (served from what the test registered). Mount it for the
// spclient host; it is safe for concurrent use. Like Spotify it answers 401
// without a bearer token, and 400 (JSON {error_type, message}) for a PUT
// without X-Spotify-Connection-Id, with another Content-Type than
// application/x-protobuf, or whose PutStateRequest has no device info.
type SpclientServer struct {
	mu        sync.Mutex
	authorize func(token string) bool
	cluster   *connectpb.Cluster
	contexts  map[string][]byte // context uri -> JSON
	pages     map[string][]byte // "/path?query" -> JSON
	stations  map[string][]byte // context uri -> JSON
	puts      []ConnectStatePut
	inactives []ConnectStateInactive
	autoplays []*playerpb.AutoplayContextRequest
	changed   chan struct{} // closed and replaced on every record
	media     spclientMedia // storage-resolve and extended metadata (spclient_media.go)
}

// NewSpclientServer returns a server that accepts any bearer token, answers
// PUTs with an empty Cluster and knows no contexts.
func NewSpclientServer() *SpclientServer {
	return &SpclientServer{
		contexts: map[string][]byte{},
		pages:    map[string][]byte{},
		stations: map[string][]byte{},
		changed:  make(chan struct{}),
	}
}

// SpclientJSON encodes a Context or ContextPage the way go-librespot reads
// it: encoding/json of the generated struct (snake_case names, bytes as
// padded standard base64).
func SpclientJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("spotifytest: encode JSON: " + err.Error()) // test data only
	}
	return b
}

// SetAuthorize sets the check of the bearer token; a request it refuses is
// answered 401. nil (the default) accepts any non-empty token.
func (s *SpclientServer) SetAuthorize(f func(token string) bool) {
	s.mu.Lock()
	s.authorize = f
	s.mu.Unlock()
}

// SetConnectStateCluster sets the Cluster that PUTs are answered with.
func (s *SpclientServer) SetConnectStateCluster(c *connectpb.Cluster) {
	s.mu.Lock()
	s.cluster = c
	s.mu.Unlock()
}

// SetSpclientContext serves c for GET /context-resolve/v1/<uri>.
func (s *SpclientServer) SetSpclientContext(uri string, c *connectpb.Context) {
	s.SetSpclientContextJSON(uri, SpclientJSON(c))
}

// SetSpclientContextJSON serves raw JSON for a context uri.
func (s *SpclientServer) SetSpclientContextJSON(uri string, b []byte) {
	s.mu.Lock()
	s.contexts[uri] = b
	s.mu.Unlock()
}

// SetSpclientPage serves p for GET <pathAndQuery>, e.g.
// "/hm-path/page/2?offset=100&limit=100" for the page URL
// "hm://hm-path/page/2?offset=100&limit=100". The query must match byte
// for byte.
func (s *SpclientServer) SetSpclientPage(pathAndQuery string, p *connectpb.ContextPage) {
	s.SetSpclientPageJSON(pathAndQuery, SpclientJSON(p))
}

// SetSpclientPageJSON serves raw JSON for a page path.
func (s *SpclientServer) SetSpclientPageJSON(pathAndQuery string, b []byte) {
	s.mu.Lock()
	s.pages["/"+strings.TrimLeft(pathAndQuery, "/")] = b
	s.mu.Unlock()
}

// SetSpclientAutoplay serves station for an autoplay request naming
// contextURI; autoplay for any other context is answered 404.
func (s *SpclientServer) SetSpclientAutoplay(contextURI string, station *connectpb.Context) {
	s.mu.Lock()
	s.stations[contextURI] = SpclientJSON(station)
	s.mu.Unlock()
}

// ConnectStatePuts returns the PUTs received for deviceID, or for every
// device when deviceID is "", in order.
func (s *SpclientServer) ConnectStatePuts(deviceID string) []ConnectStatePut {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ConnectStatePut
	for _, p := range s.puts {
		if deviceID == "" || p.DeviceID == deviceID {
			out = append(out, p)
		}
	}
	return out
}

// ConnectStateInactives returns the inactive calls received, in order.
func (s *SpclientServer) ConnectStateInactives() []ConnectStateInactive {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ConnectStateInactive(nil), s.inactives...)
}

// SpclientAutoplayRequests returns the autoplay requests received, in order.
func (s *SpclientServer) SpclientAutoplayRequests() []*playerpb.AutoplayContextRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*playerpb.AutoplayContextRequest(nil), s.autoplays...)
}

// WaitConnectStatePut blocks until the n-th PUT (counting from 1, all
// devices) has arrived and returns it, or returns ctx's error.
func (s *SpclientServer) WaitConnectStatePut(ctx context.Context, n int) (ConnectStatePut, error) {
	for {
		s.mu.Lock()
		if len(s.puts) >= n {
			p := s.puts[n-1]
			s.mu.Unlock()
			return p, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return ConnectStatePut{}, ctx.Err()
		case <-ch:
		}
	}
}

// WaitConnectStateInactive blocks until the n-th inactive call (from 1)
// has arrived and returns it, or returns ctx's error.
func (s *SpclientServer) WaitConnectStateInactive(ctx context.Context, n int) (ConnectStateInactive, error) {
	for {
		s.mu.Lock()
		if len(s.inactives) >= n {
			in := s.inactives[n-1]
			s.mu.Unlock()
			return in, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return ConnectStateInactive{}, ctx.Err()
		case <-ch:
		}
	}
}

// spclientRecord runs f under the lock and wakes the waiters.
func (s *SpclientServer) spclientRecord(f func()) {
	s.mu.Lock()
	f()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// spclientError answers like Spotify does: a status with a JSON body.
func spclientError(w http.ResponseWriter, status int, errorType, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error_type": errorType, "message": message})
	_, _ = w.Write(b)
}

func (s *SpclientServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	authorize := s.authorize
	s.mu.Unlock()
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" || (authorize != nil && !authorize(token)) {
		spclientError(w, http.StatusUnauthorized, "UNAUTHORIZED", "bad or missing bearer token")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		spclientError(w, http.StatusBadRequest, "BAD_REQUEST", "read body: "+err.Error())
		return
	}

	p := r.URL.EscapedPath()
	switch {
	case s.spclientMediaServe(w, r, p, body):
	case strings.HasPrefix(p, "/connect-state/v1/devices/"):
		s.spclientConnectState(w, r, strings.TrimPrefix(p, "/connect-state/v1/devices/"), body)
	case p == "/context-resolve/v1/autoplay" && r.Method == http.MethodPost:
		s.spclientAutoplay(w, body)
	case strings.HasPrefix(p, "/context-resolve/v1/") && r.Method == http.MethodGet:
		uri, err := url.PathUnescape(strings.TrimPrefix(p, "/context-resolve/v1/"))
		s.mu.Lock()
		b, ok := s.contexts[uri]
		s.mu.Unlock()
		if err != nil || !ok {
			spclientError(w, http.StatusNotFound, "NOT_FOUND", "no such context")
			return
		}
		spclientWriteJSON(w, b)
	case r.Method == http.MethodGet:
		key := p
		if r.URL.RawQuery != "" {
			key += "?" + r.URL.RawQuery
		}
		s.mu.Lock()
		b, ok := s.pages[key]
		s.mu.Unlock()
		if !ok {
			spclientError(w, http.StatusNotFound, "NOT_FOUND", "no such page: "+key)
			return
		}
		spclientWriteJSON(w, b)
	default:
		spclientError(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint")
	}
}

func spclientWriteJSON(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (s *SpclientServer) spclientConnectState(w http.ResponseWriter, r *http.Request, rest string, body []byte) {
	if r.Method != http.MethodPut {
		spclientError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", r.Method)
		return
	}
	connID := r.Header.Get("X-Spotify-Connection-Id")
	if connID == "" {
		spclientError(w, http.StatusBadRequest, "MISSING_CONNECTION_ID", "X-Spotify-Connection-Id is required")
		return
	}
	if dev, ok := strings.CutSuffix(rest, "/inactive"); ok && dev != "" && !strings.Contains(dev, "/") {
		s.spclientRecord(func() {
			s.inactives = append(s.inactives, ConnectStateInactive{DeviceID: dev, ConnectionID: connID, RawQuery: r.URL.RawQuery})
		})
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if rest == "" || strings.Contains(rest, "/") {
		spclientError(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		spclientError(w, http.StatusBadRequest, "BAD_CONTENT_TYPE", "want application/x-protobuf, got "+ct)
		return
	}
	var req connectpb.PutStateRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		spclientError(w, http.StatusBadRequest, "BAD_REQUEST", "decode PutStateRequest: "+err.Error())
		return
	}
	if req.GetDevice().GetDeviceInfo() == nil {
		spclientError(w, http.StatusBadRequest, "BAD_REQUEST", "PutStateRequest without device info")
		return
	}
	s.mu.Lock()
	cl := s.cluster
	s.mu.Unlock()
	out := []byte{}
	if cl != nil {
		var err error
		if out, err = proto.Marshal(cl); err != nil {
			spclientError(w, http.StatusInternalServerError, "INTERNAL", err.Error())
			return
		}
	}
	s.spclientRecord(func() {
		s.puts = append(s.puts, ConnectStatePut{
			DeviceID: rest, ConnectionID: connID, Reason: req.GetPutStateReason(),
			Request: &req, Body: body, Header: r.Header.Clone(),
		})
	})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (s *SpclientServer) spclientAutoplay(w http.ResponseWriter, body []byte) {
	var req playerpb.AutoplayContextRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		spclientError(w, http.StatusBadRequest, "BAD_REQUEST", "decode AutoplayContextRequest: "+err.Error())
		return
	}
	s.spclientRecord(func() { s.autoplays = append(s.autoplays, &req) })
	s.mu.Lock()
	b, ok := s.stations[req.GetContextUri()]
	s.mu.Unlock()
	if !ok {
		spclientError(w, http.StatusNotFound, "NOT_FOUND", "no station for "+req.GetContextUri())
		return
	}
	spclientWriteJSON(w, b)
}

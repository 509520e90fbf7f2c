package localapi

import (
	"bytes"
	"context"
	_ "embed" // the OpenAPI description
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
)

// MaxBodyBytes bounds a request body; every command's body is a few bytes.
const MaxBodyBytes = 4096

//go:embed openapi.json
var openAPI []byte

// route is one entry of the server's route table; the mux and the OpenAPI
// test both take it from routes().
type route struct {
	method, path string
	handler      http.HandlerFunc
}

func (s *Server) routes() []route {
	rs := []route{
		{http.MethodGet, "/status", s.getStatus},
		{http.MethodGet, "/events", s.getEvents},
		{http.MethodGet, "/openapi.json", s.getOpenAPI},
		{http.MethodGet, "/metrics", s.getMetrics},
		{http.MethodPost, "/zeroconf/reset-users", s.postResetUsers},
	}
	for _, k := range []ControlKind{Play, Pause, Next, Previous, Seek, Volume} {
		rs = append(rs, route{http.MethodPost, "/player/" + k.String(), s.postControl(k)})
	}
	for _, m := range []RelayMode{RelayOn, RelayOff, RelayAuto} {
		rs = append(rs, route{http.MethodPost, "/relay/" + string(m), s.postRelay(m)})
	}
	return append(rs, s.ownerRoutes()...)
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, reason string) {
	writeJSON(w, code, errorBody{Error: reason})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// notFound answers what no route matched: 405 for a known path with another
// method, else 404, both as JSON.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, rt := range s.routes() {
		if rt.path == r.URL.Path {
			allow = append(allow, rt.method)
		}
	}
	if len(allow) > 0 {
		if slices.Contains(allow, http.MethodGet) {
			allow = append(allow, http.MethodHead)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
		return
	}
	writeError(w, http.StatusNotFound, "no such route: "+quoteShort(r.URL.Path)+" (see /openapi.json)")
}

func (s *Server) getStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.current())
}

func (s *Server) getOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}

func (s *Server) getMetrics(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Metrics == nil {
		writeError(w, http.StatusServiceUnavailable, "metrics are not available in this build")
		return
	}
	s.cfg.Metrics.ServeHTTP(w, r)
}

// readBody reads a command's body: none at all, or JSON (declared so) of at
// most MaxBodyBytes. The code is 400 or 415 when it fails.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	if r.ContentLength == 0 {
		return nil, 0, nil
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("a request body must be Content-Type application/json, not %s", quoteShort(ct))
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, http.StatusBadRequest, fmt.Errorf("request body larger than %d bytes", MaxBodyBytes)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("reading the request body: %w", err)
	}
	return b, 0, nil
}

// Bounds of the command arguments and of a blocked event stream.
const (
	maxSeekMs       = 24 * 60 * 60 * 1000
	sseWriteTimeout = 30 * time.Second
)

// parseControl turns a command's body into a Control, or says what is
// wrong with it. An empty body is {}.
func parseControl(k ControlKind, body []byte) (Control, error) {
	c := Control{Kind: k}
	switch k {
	case Seek:
		var req struct {
			PositionMs *int64 `json:"position_ms"`
		}
		if err := decodeStrict(body, &req); err != nil {
			return Control{}, err
		}
		if req.PositionMs == nil {
			return Control{}, errors.New(`position_ms is required: {"position_ms": 60000}`)
		}
		if *req.PositionMs < 0 || *req.PositionMs > maxSeekMs {
			return Control{}, fmt.Errorf("position_ms %d out of range: 0 to %d", *req.PositionMs, maxSeekMs)
		}
		c.PositionMs = *req.PositionMs
	case Volume:
		var req struct {
			Percent *int `json:"percent"`
		}
		if err := decodeStrict(body, &req); err != nil {
			return Control{}, err
		}
		if req.Percent == nil {
			return Control{}, errors.New(`percent is required: {"percent": 40}`)
		}
		if *req.Percent < 0 || *req.Percent > 100 {
			return Control{}, fmt.Errorf("percent %d out of range: 0 to 100", *req.Percent)
		}
		c.Volume = percentToRaw(*req.Percent)
	case Play, Pause, Next, Previous:
		if err := decodeStrict(body, &struct{}{}); err != nil {
			return Control{}, err
		}
	default:
		return Control{}, fmt.Errorf("unknown command %d", k)
	}
	return c, nil
}

// decodeStrict decodes one JSON object into v: unknown fields, wrong types
// and trailing data are errors, phrased for the client.
func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if bytes.TrimSpace(body)[0] != '{' {
		return errors.New("the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return fmt.Errorf("%s must be %s", te.Field, jsonType(te.Type.Kind().String()))
		case errors.As(err, &se):
			return fmt.Errorf("the body is not valid JSON: %s", strings.TrimPrefix(se.Error(), "json: "))
		case errors.Is(err, io.ErrUnexpectedEOF):
			return errors.New("the body is not valid JSON: it ends early")
		}
		return fmt.Errorf("bad body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("the body must hold one JSON object and nothing after it")
	}
	return nil
}

func jsonType(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "bool":
		return "true or false"
	case kind == "string":
		return "a string"
	}
	return "a " + kind
}

// command runs f under a timeout detached from the client: a client that
// hangs up must not leave a command half done.
func command(r *http.Request, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), controlTimeout)
	defer cancel()
	return f(ctx)
}

func (s *Server) postControl(k ControlKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, code, err := readBody(w, r)
		if err != nil {
			writeError(w, code, err.Error())
			return
		}
		c, err := parseControl(k, body)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if s.cfg.Controller == nil {
			writeError(w, http.StatusServiceUnavailable, "player control is not available")
			return
		}
		s.answer(w, "player "+k.String(), command(r, func(ctx context.Context) error { return s.cfg.Controller.Control(ctx, c) }))
	}
}

func (s *Server) postRelay(m RelayMode) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.emptyBody(w, r) {
			return
		}
		if s.cfg.Relay == nil {
			writeError(w, http.StatusConflict, ErrNoRelay.Error())
			return
		}
		s.answer(w, "relay "+string(m), command(r, func(ctx context.Context) error { return s.cfg.Relay.SetMode(ctx, m) }))
	}
}

func (s *Server) postResetUsers(w http.ResponseWriter, r *http.Request) {
	if !s.emptyBody(w, r) {
		return
	}
	if s.cfg.ZeroConf == nil {
		writeError(w, http.StatusServiceUnavailable, "the ZeroConf API is not available")
		return
	}
	s.answer(w, "zeroconf reset-users", command(r, s.cfg.ZeroConf.ResetUsers))
}

// emptyBody accepts no body or {}; it has answered when it returns false.
func (s *Server) emptyBody(w http.ResponseWriter, r *http.Request) bool {
	body, code, err := readBody(w, r)
	if err == nil {
		err = decodeStrict(body, &struct{}{})
		code = http.StatusBadRequest
	}
	if err != nil {
		writeError(w, code, err.Error())
		return false
	}
	return true
}

// answer maps a command's outcome to the reply: 204, 409 when there was
// nothing to act on, 503 when the part is unavailable, 504 when the speaker did not answer in time, else 500.
func (s *Server) answer(w http.ResponseWriter, what string, err error) {
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, ErrNoSession), errors.Is(err, ErrNoRelay):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, what+": "+err.Error())
	case errors.Is(err, ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, what+": "+err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, what+": the speaker did not answer in time")
	default:
		s.cfg.Log.Warn("local API command failed", "command", what, "err", err)
		writeError(w, http.StatusInternalServerError, what+": "+err.Error())
	}
}

// sseFrame is one Server-Sent Event.
func sseFrame(name string, data any) ([]byte, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", name, err)
	}
	out := make([]byte, 0, len(name)+len(b)+16)
	out = append(out, "event: "...)
	out = append(out, name...)
	out = append(out, "\ndata: "...)
	out = append(out, b...)
	return append(out, "\n\n"...), nil
}

type eventData struct {
	Event  map[string]string `json:"event"`
	Status Status            `json:"status"`
}

// eventFrame is the SSE frame of one hook event; nil for a name that could
// break the stream's framing (hook names are fixed words, so never).
func (s *Server) eventFrame(p pendingEvent) []byte {
	if p.ev.Name == "" { // Refresh
		f, err := sseFrame("status", s.render(p.model))
		if err != nil {
			s.cfg.Log.Warn("local API: status event not sent", "err", err)
			return nil
		}
		return f
	}
	if strings.ContainsAny(p.ev.Name, "\r\n:") || p.ev.Name == "status" {
		return nil
	}
	f, err := sseFrame(p.ev.Name, eventData{Event: publicVars(p.ev), Status: s.renderAfter(p.model)})
	if err != nil {
		s.cfg.Log.Warn("local API: event not sent", "event", p.ev.Name, "err", err)
		return nil
	}
	return f
}

func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	c, err := s.subscribe()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer s.unsubscribe(c)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events on at once
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	for {
		select {
		case f := <-c.ch:
			if !writeFrames(w, rc, f, c.ch) {
				return
			}
		case <-c.gone:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// writeFrames writes f and whatever else is queued, then flushes. A write
// that blocks past sseWriteTimeout ends the stream; the hub has dropped the
// client long before, once its queue filled.
func writeFrames(w http.ResponseWriter, rc *http.ResponseController, f []byte, more <-chan []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout)) // not every writer has one
	for f != nil {
		if _, err := w.Write(f); err != nil {
			return false
		}
		select {
		case f = <-more:
		default:
			f = nil
		}
	}
	return rc.Flush() == nil
}

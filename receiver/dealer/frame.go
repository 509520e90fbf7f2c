package dealer

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// The pusher's message naming a connection starts with this URI.
const connectionURIPrefix = "hm://pusher/v1/connections/"

type frameKind int

const (
	framePing frameKind = iota + 1
	framePong
	frameMessage
	frameConnectionID
	frameRequest
)

// frame is one decoded text frame from the dealer.
type frame struct {
	kind frameKind
	// message: URI, headers, payload; frameConnectionID: only id.
	msg      Message
	payloads int    // how many payloads the message carried
	id       string // frameConnectionID
	// request: everything but Reply.
	req Request
}

// envelope is every field of every frame type we read.
type envelope struct {
	Type         string            `json:"type"`
	URI          string            `json:"uri"`
	Headers      map[string]string `json:"headers"`
	MessageIdent string            `json:"message_ident"`
	Key          string            `json:"key"`
	Payloads     []json.RawMessage `json:"payloads"`
	Payload      *struct {
		Compressed []byte `json:"compressed"`
	} `json:"payload"`
}

// commandPayload is a request's decoded payload, parsed only as far as
// routing needs.
type commandPayload struct {
	MessageID uint32          `json:"message_id"`
	SentBy    string          `json:"sent_by_device_id"`
	Command   json.RawMessage `json:"command"`
}

// decoder decodes frames; one per connection, used by its reader only. It
// keeps its gzip reader, which costs far more to make than to reset.
type decoder struct {
	maxPayload int64 // bounds a decoded (and decompressed) payload
	zr         *gzip.Reader
}

// decodeFrame parses one text frame with a fresh decoder.
func decodeFrame(data []byte, maxPayload int64) (frame, error) {
	return (&decoder{maxPayload: maxPayload}).decode(data)
}

// decode parses one text frame. On an error for a request whose key could
// be read, the returned frame is a frameRequest with req.Key set, so that
// the caller can answer it with a failure; any other error means "drop the
// frame".
func (d *decoder) decode(data []byte) (frame, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		// The envelope is broken somewhere (a header that is not a
		// string, say); if it is a request we can still name its key.
		var min struct {
			Type string `json:"type"`
			Key  string `json:"key"`
		}
		if json.Unmarshal(data, &min) == nil && min.Type == "request" && min.Key != "" {
			return frame{kind: frameRequest, req: Request{Key: min.Key}}, fmt.Errorf("decode request envelope: %w", err)
		}
		return frame{}, fmt.Errorf("decode frame: %w", err)
	}
	switch env.Type {
	case "ping":
		return frame{kind: framePing}, nil
	case "pong":
		return frame{kind: framePong}, nil
	case "message":
		return d.decodeMessage(&env)
	case "request":
		return d.decodeRequest(&env)
	case "":
		return frame{}, errors.New("frame without a type")
	default:
		return frame{}, fmt.Errorf("unknown frame type %q", env.Type)
	}
}

func (d *decoder) decodeMessage(env *envelope) (frame, error) {
	maxPayload := d.maxPayload
	if env.URI == "" {
		return frame{}, errors.New("message without a uri")
	}
	if strings.HasPrefix(env.URI, connectionURIPrefix) {
		id := headerValue(env.Headers, "Spotify-Connection-Id")
		if id == "" {
			// The id is also the URI's last segment, escaped.
			if s, err := url.PathUnescape(strings.TrimPrefix(env.URI, connectionURIPrefix)); err == nil {
				id = s
			}
		}
		if id == "" {
			return frame{}, errors.New("pusher connection message without a connection id")
		}
		return frame{kind: frameConnectionID, id: id}, nil
	}
	var payload []byte
	for i, raw := range env.Payloads {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return frame{}, fmt.Errorf("message %s: payload %d is not a string", env.URI, i)
		}
		if int64(len(payload))+int64(base64.StdEncoding.DecodedLen(len(s))) > maxPayload+2 {
			return frame{}, fmt.Errorf("message %s: payload larger than %d bytes", env.URI, maxPayload)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return frame{}, fmt.Errorf("message %s: payload %d: %w", env.URI, i, err)
		}
		payload = append(payload, b...)
		if int64(len(payload)) > maxPayload {
			return frame{}, fmt.Errorf("message %s: payload larger than %d bytes", env.URI, maxPayload)
		}
	}
	headers := env.Headers
	if len(env.Payloads) > 0 {
		var err error
		if payload, headers, err = d.decodeTransfer(env.Headers, payload); err != nil {
			return frame{}, fmt.Errorf("message %s: %w", env.URI, err)
		}
	}
	return frame{
		kind:     frameMessage,
		msg:      Message{URI: env.URI, Headers: headers, Payload: payload},
		payloads: len(env.Payloads),
	}, nil
}

func (d *decoder) decodeRequest(env *envelope) (frame, error) {
	maxPayload := d.maxPayload
	if env.Key == "" {
		return frame{}, errors.New("request without a key")
	}
	f := frame{kind: frameRequest, req: Request{Key: env.Key, Ident: env.MessageIdent}}
	if env.MessageIdent == "" {
		return f, errors.New("request without a message_ident")
	}
	if env.Payload == nil || len(env.Payload.Compressed) == 0 {
		return f, errors.New("request without a payload")
	}
	if int64(len(env.Payload.Compressed)) > maxPayload {
		return f, fmt.Errorf("request payload larger than %d bytes", maxPayload)
	}
	data, _, err := d.decodeTransfer(env.Headers, env.Payload.Compressed)
	if err != nil {
		return f, fmt.Errorf("request payload: %w", err)
	}
	var p commandPayload
	if err := json.Unmarshal(data, &p); err != nil {
		return f, fmt.Errorf("request payload: %w", err)
	}
	cmd := bytes.TrimSpace(p.Command)
	if len(cmd) == 0 || cmd[0] != '{' {
		return f, errors.New("request payload without a command object")
	}
	var c struct {
		Endpoint string `json:"endpoint"`
	}
	if err := json.Unmarshal(cmd, &c); err != nil {
		return f, fmt.Errorf("request command: %w", err)
	}
	if c.Endpoint == "" {
		return f, errors.New("request command without an endpoint")
	}
	f.req.MessageID = p.MessageID
	f.req.SentBy = p.SentBy
	f.req.Endpoint = c.Endpoint
	f.req.Command = json.RawMessage(cmd)
	return f, nil
}

// decodeTransfer undoes a Transfer-Encoding header (only gzip exists) and
// returns the headers without it.
func (d *decoder) decodeTransfer(headers map[string]string, data []byte) ([]byte, map[string]string, error) {
	name, enc := "", ""
	for k, v := range headers {
		if strings.EqualFold(k, "Transfer-Encoding") {
			name, enc = k, v
			break
		}
	}
	if name == "" {
		return data, headers, nil
	}
	if !strings.EqualFold(enc, "gzip") {
		return nil, nil, fmt.Errorf("unsupported transfer encoding %q", enc)
	}
	var err error
	if d.zr == nil {
		d.zr, err = gzip.NewReader(bytes.NewReader(data))
	} else {
		err = d.zr.Reset(bytes.NewReader(data))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("gunzip: %w", err)
	}
	// A small gzip stream can expand to anything: read one byte past the
	// limit to notice.
	out, err := io.ReadAll(io.LimitReader(d.zr, d.maxPayload+1))
	if err != nil {
		return nil, nil, fmt.Errorf("gunzip: %w", err)
	}
	if int64(len(out)) > d.maxPayload {
		return nil, nil, fmt.Errorf("gunzipped payload larger than %d bytes", d.maxPayload)
	}
	rest := make(map[string]string, len(headers)-1)
	for k, v := range headers {
		if k != name {
			rest[k] = v
		}
	}
	return out, rest, nil
}

// headerValue looks a header up without regard to case.
func headerValue(h map[string]string, name string) string {
	if v, ok := h[name]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// Frames we send.
const (
	pingText = `{"type":"ping"}`
	pongText = `{"type":"pong"}`
)

func replyFrame(key string, success bool) []byte {
	var r struct {
		Type    string `json:"type"`
		Key     string `json:"key"`
		Payload struct {
			Success bool `json:"success"`
		} `json:"payload"`
	}
	r.Type, r.Key, r.Payload.Success = "reply", key, success
	// Marshalling a string and a bool cannot fail (invalid UTF-8 in the
	// key is replaced, not refused).
	b, _ := json.Marshal(r)
	return b
}

package dealer

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func requestFrame(key string, headers map[string]string, payload []byte) []byte {
	f, _ := json.Marshal(map[string]any{
		"type": "request", "message_ident": "hm://connect-state/v1/player/command", "key": key,
		"headers": headers, "payload": map[string]any{"compressed": payload},
	})
	return f
}

const pauseCommand = `{"message_id":77,"sent_by_device_id":"phone","command":{"endpoint":"pause","logging_params":{"command_id":"c1"}}}`

func TestDecodeFrame(t *testing.T) {
	bigGzip := gz(bytes.Repeat([]byte("a"), 5000))
	tests := []struct {
		name    string
		in      string
		kind    frameKind // expected kind (also for errors that keep a key)
		wantErr string    // substring; "" = no error
		check   func(t *testing.T, f frame)
	}{
		{name: "ping", in: `{"type":"ping"}`, kind: framePing},
		{name: "pong", in: `{"type":"pong"}`, kind: framePong},
		{
			name: "pusher connection id from the header",
			in:   `{"type":"message","uri":"hm://pusher/v1/connections/abc%3D","headers":{"Spotify-Connection-Id":"abc="},"payloads":[]}`,
			kind: frameConnectionID,
			check: func(t *testing.T, f frame) {
				if f.id != "abc=" {
					t.Errorf("id %q", f.id)
				}
			},
		},
		{
			name: "pusher connection id, header name in another case",
			in:   `{"type":"message","uri":"hm://pusher/v1/connections/other","headers":{"spotify-connection-id":"abc="}}`,
			kind: frameConnectionID,
			check: func(t *testing.T, f frame) {
				if f.id != "abc=" {
					t.Errorf("id %q", f.id)
				}
			},
		},
		{
			name: "pusher connection id from the uri",
			in:   `{"type":"message","uri":"hm://pusher/v1/connections/abc%3D"}`,
			kind: frameConnectionID,
			check: func(t *testing.T, f frame) {
				if f.id != "abc=" {
					t.Errorf("id %q", f.id)
				}
			},
		},
		{name: "pusher without any id", in: `{"type":"message","uri":"hm://pusher/v1/connections/"}`, wantErr: "without a connection id"},
		{
			name: "message, plain payload",
			in:   `{"type":"message","uri":"hm://connect-state/v1/connect/volume","headers":{"Content-Type":"application/protobuf"},"payloads":["` + b64([]byte("vol")) + `"]}`,
			kind: frameMessage,
			check: func(t *testing.T, f frame) {
				if string(f.msg.Payload) != "vol" || f.msg.Headers["Content-Type"] != "application/protobuf" || f.msg.URI != "hm://connect-state/v1/connect/volume" {
					t.Errorf("message %+v", f.msg)
				}
			},
		},
		{
			name: "message, gzip payload, header dropped after decoding",
			in:   `{"type":"message","uri":"hm://x","headers":{"transfer-encoding":"gzip","A":"b"},"payloads":["` + b64(gz([]byte("cluster"))) + `"]}`,
			kind: frameMessage,
			check: func(t *testing.T, f frame) {
				if string(f.msg.Payload) != "cluster" || len(f.msg.Headers) != 1 || f.msg.Headers["A"] != "b" {
					t.Errorf("message %+v", f.msg)
				}
			},
		},
		{
			name: "two payloads are joined before gunzip",
			in: func() string {
				z := gz([]byte("hello world"))
				return `{"type":"message","uri":"hm://x","headers":{"Transfer-Encoding":"gzip"},"payloads":["` + b64(z[:5]) + `","` + b64(z[5:]) + `"]}`
			}(),
			kind: frameMessage,
			check: func(t *testing.T, f frame) {
				if string(f.msg.Payload) != "hello world" || f.payloads != 2 {
					t.Errorf("payload %q from %d payloads", f.msg.Payload, f.payloads)
				}
			},
		},
		{
			name: "no payloads: nil payload",
			in:   `{"type":"message","uri":"hm://x","headers":{"Transfer-Encoding":"gzip"}}`,
			kind: frameMessage,
			check: func(t *testing.T, f frame) {
				if f.msg.Payload != nil {
					t.Errorf("payload %q", f.msg.Payload)
				}
			},
		},
		{name: "object payload", in: `{"type":"message","uri":"hm://x","payloads":[{"a":1}]}`, wantErr: "not a string"},
		{name: "bad base64", in: `{"type":"message","uri":"hm://x","payloads":["!!"]}`, wantErr: "payload 0"},
		{name: "unknown transfer encoding", in: `{"type":"message","uri":"hm://x","headers":{"Transfer-Encoding":"br"},"payloads":["YQ=="]}`, wantErr: "unsupported transfer encoding"},
		{name: "bad gzip", in: `{"type":"message","uri":"hm://x","headers":{"Transfer-Encoding":"gzip"},"payloads":["YQ=="]}`, wantErr: "gunzip"},
		{name: "gzip bomb over the limit", in: `{"type":"message","uri":"hm://x","headers":{"Transfer-Encoding":"gzip"},"payloads":["` + b64(bigGzip) + `"]}`, wantErr: "larger than"},
		{name: "message without uri", in: `{"type":"message","payloads":[]}`, wantErr: "without a uri"},
		{name: "garbage", in: `not json`, wantErr: "decode frame"},
		{name: "empty", in: ``, wantErr: "decode frame"},
		{name: "no type", in: `{}`, wantErr: "without a type"},
		{name: "unknown type", in: `{"type":"hello"}`, wantErr: "unknown frame type"},
		{name: "header not a string", in: `{"type":"message","uri":"hm://x","headers":{"a":1}}`, wantErr: "decode frame"},
		{
			name: "request, gzip",
			in:   string(requestFrame("k1", map[string]string{"Transfer-Encoding": "gzip"}, gz([]byte(pauseCommand)))),
			kind: frameRequest,
			check: func(t *testing.T, f frame) {
				r := f.req
				if r.Key != "k1" || r.Ident != "hm://connect-state/v1/player/command" || r.MessageID != 77 || r.SentBy != "phone" || r.Endpoint != "pause" {
					t.Errorf("request %+v", r)
				}
				if !strings.Contains(string(r.Command), `"command_id":"c1"`) || !json.Valid(r.Command) {
					t.Errorf("command %s", r.Command)
				}
			},
		},
		{name: "request, plain", in: string(requestFrame("k2", nil, []byte(pauseCommand))), kind: frameRequest},
		{name: "request without key", in: string(requestFrame("", nil, []byte(pauseCommand))), wantErr: "without a key"},
		{name: "request, broken envelope keeps its key", in: `{"type":"request","key":"k3","headers":{"x":[]}}`, kind: frameRequest, wantErr: "request envelope"},
		{name: "request without ident", in: `{"type":"request","key":"k4","payload":{"compressed":"e30="}}`, kind: frameRequest, wantErr: "message_ident"},
		{name: "request without payload", in: `{"type":"request","key":"k5","message_ident":"x"}`, kind: frameRequest, wantErr: "without a payload"},
		{name: "request, payload not JSON", in: string(requestFrame("k6", nil, []byte("{{"))), kind: frameRequest, wantErr: "request payload"},
		{name: "request, message_id not a number", in: string(requestFrame("k7", nil, []byte(`{"message_id":"x","command":{"endpoint":"pause"}}`))), kind: frameRequest, wantErr: "request payload"},
		{name: "request, command null", in: string(requestFrame("k8", nil, []byte(`{"command":null}`))), kind: frameRequest, wantErr: "command object"},
		{name: "request, no endpoint", in: string(requestFrame("k9", nil, []byte(`{"command":{"value":1}}`))), kind: frameRequest, wantErr: "endpoint"},
		{name: "request, endpoint not a string", in: string(requestFrame("k10", nil, []byte(`{"command":{"endpoint":5}}`))), kind: frameRequest, wantErr: "request command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := decodeFrame([]byte(tt.in), 4096)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("err %v", err)
			}
			if f.kind != tt.kind {
				t.Fatalf("kind %d, want %d", f.kind, tt.kind)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

func TestReplyFrame(t *testing.T) {
	for _, key := range []string{"plain", `quo"te`, "\xff\xfe"} {
		for _, ok := range []bool{true, false} {
			var r struct {
				Type    string
				Key     string
				Payload struct{ Success bool }
			}
			b := replyFrame(key, ok)
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if r.Type != "reply" || r.Payload.Success != ok || (key != "\xff\xfe" && r.Key != key) {
				t.Errorf("%s decodes to %+v", b, r)
			}
		}
	}
}

// FuzzDealerFrame feeds arbitrary frames to the decoder: it must never
// panic, and what it accepts must be what the rest of the client relies on.
func FuzzDealerFrame(f *testing.F) {
	seeds := []string{
		`{"type":"ping"}`,
		`{"type":"pong"}`,
		`{"type":"message","uri":"hm://pusher/v1/connections/abc","headers":{"Spotify-Connection-Id":"abc"}}`,
		`{"type":"message","uri":"hm://connect-state/v1/cluster","headers":{"Transfer-Encoding":"gzip"},"payloads":["` + b64(gz([]byte("cluster"))) + `"]}`,
		`{"type":"message","uri":"hm://x","payloads":["YQ==","Yg=="]}`,
		`{"type":"message","uri":"hm://x","payloads":[{"a":1},null,3]}`,
		`{"type":"message","uri":"hm://x","headers":{"Transfer-Encoding":"gzip"},"payloads":["` + b64(gz(bytes.Repeat([]byte("z"), 10000))) + `"]}`,
		string(requestFrame("k", map[string]string{"Transfer-Encoding": "gzip"}, gz([]byte(pauseCommand)))),
		string(requestFrame("k", nil, []byte(pauseCommand))),
		`{"type":"request","key":"k","headers":{"x":[]}}`,
		`{"type":"request","key":"k","message_ident":"i","payload":{"compressed":"!!"}}`,
		`{"type":"reply","key":"k","payload":{"success":true}}`,
		`[[[[[[[[[[]]]]]]]]]]`,
		``,
		`garbage`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	const limit = 4096
	// A connection's decoder lives long and keeps its gzip reader: after
	// any input it must decode exactly as a fresh one does.
	var mu sync.Mutex
	kept := &decoder{maxPayload: limit}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := decodeFrame(data, limit)
		mu.Lock()
		fr2, err2 := kept.decode(data)
		mu.Unlock()
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(fr, fr2) {
			t.Fatalf("a kept decoder gives %+v, %v; a fresh one %+v, %v", fr2, err2, fr, err)
		}
		if err != nil {
			if fr.kind != 0 && (fr.kind != frameRequest || fr.req.Key == "") {
				t.Fatalf("error %v with a frame of kind %d that cannot be answered", err, fr.kind)
			}
			return
		}
		switch fr.kind {
		case framePing, framePong:
		case frameConnectionID:
			if fr.id == "" {
				t.Fatal("empty connection id")
			}
		case frameMessage:
			if fr.msg.URI == "" || len(fr.msg.Payload) > limit {
				t.Fatalf("message %q with %d payload bytes from %d payloads", fr.msg.URI, len(fr.msg.Payload), fr.payloads)
			}
			if headerValue(fr.msg.Headers, "Transfer-Encoding") != "" && fr.payloads > 0 {
				t.Fatal("Transfer-Encoding kept after decoding")
			}
		case frameRequest:
			r := fr.req
			if r.Key == "" || r.Ident == "" || r.Endpoint == "" || !json.Valid(r.Command) || r.Command[0] != '{' {
				t.Fatalf("request %+v", r)
			}
		default:
			t.Fatalf("no error and no kind")
		}
	})
}

func TestBackoffDefaults(t *testing.T) {
	for _, tt := range []struct {
		jitter   float64
		failures int
		want     time.Duration
	}{
		{0, 1, 500 * time.Millisecond},
		{0.999999999, 1, time.Second},
		{0.999999999, 2, 2 * time.Second},
		{0.999999999, 6, 32 * time.Second},
		{0.999999999, 7, time.Minute},
		{0, 7, 30 * time.Second},
		{0.999999999, 1000, time.Minute}, // no overflow, no give-up
	} {
		d, err := New(Config{
			Client: &http.Client{},
			Addr:   func(context.Context) (string, error) { return "", nil },
			Token:  func(context.Context, bool) (string, error) { return "", nil },
			Jitter: func() float64 { return tt.jitter },
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.backoff(tt.failures); got.Round(time.Millisecond) != tt.want {
			t.Errorf("jitter %v, failure %d: backoff %s, want %s", tt.jitter, tt.failures, got, tt.want)
		}
		if d.cfg.PingInterval != 30*time.Second || d.cfg.ReplyTimeout != 5*time.Second {
			t.Errorf("defaults: ping %s, reply timeout %s", d.cfg.PingInterval, d.cfg.ReplyTimeout)
		}
	}
}

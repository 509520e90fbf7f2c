package spotifytest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// dealerTestGuard only bounds the waits so that a bug fails instead of
// hanging; no test relies on it passing.
const dealerTestGuard = 20 * time.Second

func dealerTestCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), dealerTestGuard)
	t.Cleanup(cancel)
	return ctx
}

func dealerTestServer(t *testing.T) (*DealerServer, *httptest.Server) {
	s := NewDealerServer()
	hs := httptest.NewTLSServer(s)
	t.Cleanup(hs.Close)
	t.Cleanup(s.Close)
	return s, hs
}

func dealerTestDial(t *testing.T, hs *httptest.Server, token string) (*websocket.Conn, int) {
	t.Helper()
	u := strings.Replace(hs.URL, "https", "wss", 1) + "/?access_token=" + url.QueryEscape(token)
	ws, resp, err := websocket.Dial(dealerTestCtx(t), u, &websocket.DialOptions{HTTPClient: hs.Client()})
	if err != nil {
		if resp == nil {
			t.Fatal(err)
		}
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { ws.CloseNow() })
	return ws, http.StatusSwitchingProtocols
}

// dealerTestFrame is every field the server sends.
type dealerTestFrame struct {
	Type         string
	URI          string
	MessageIdent string `json:"message_ident"`
	Key          string
	Headers      map[string]string
	Payloads     []string
	Payload      struct{ Compressed []byte }
}

func dealerTestRead(t *testing.T, ws *websocket.Conn) dealerTestFrame {
	t.Helper()
	_, data, err := ws.Read(dealerTestCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var f dealerTestFrame
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	return f
}

func dealerTestWrite(t *testing.T, ws *websocket.Conn, s string) {
	t.Helper()
	if err := ws.Write(dealerTestCtx(t), websocket.MessageText, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

func dealerTestGunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dealerTestConnect opens a connection, reads the pusher message and waits
// until the server counts the connection as named (the frame can reach the
// client before the server has marked it).
func dealerTestConnect(t *testing.T, s *DealerServer, hs *httptest.Server) *websocket.Conn {
	t.Helper()
	ws, status := dealerTestDial(t, hs, "tok")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", status)
	}
	dealerTestRead(t, ws)
	if _, err := s.WaitConnection(dealerTestCtx(t), s.Connections()); err != nil {
		t.Fatal(err)
	}
	return ws
}

// dealerTestRoundTrip runs s.RoundTrip, playing the device: the next frame
// must be the server's ping, which it answers.
func dealerTestRoundTrip(t *testing.T, s *DealerServer, ws *websocket.Conn) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.RoundTrip(dealerTestCtx(t)) }()
	if f := dealerTestRead(t, ws); f.Type != "ping" {
		t.Fatalf("frame %+v, want the server's ping", f)
	}
	dealerTestWrite(t, ws, `{"type":"pong"}`)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestDealerServerNamesEachConnection(t *testing.T) {
	s, hs := dealerTestServer(t)
	var ids []string
	for n := 1; n <= 2; n++ {
		ws, status := dealerTestDial(t, hs, "tok")
		if status != http.StatusSwitchingProtocols {
			t.Fatalf("status %d", status)
		}
		f := dealerTestRead(t, ws)
		id := f.Headers["Spotify-Connection-Id"]
		if f.Type != "message" || id == "" || f.URI != "hm://pusher/v1/connections/"+url.PathEscape(id) {
			t.Fatalf("first frame %+v", f)
		}
		got, err := s.WaitConnection(dealerTestCtx(t), n)
		if err != nil || got != id {
			t.Fatalf("WaitConnection(%d) = %q, %v; the client saw %q", n, got, err, id)
		}
		ids = append(ids, id)
	}
	if ids[0] == ids[1] {
		t.Errorf("both connections named %q", ids[0])
	}
	if s.Connections() != 2 {
		t.Errorf("%d connections", s.Connections())
	}
}

func TestDealerServerUpgradeKnobs(t *testing.T) {
	s, hs := dealerTestServer(t)
	s.SetAcceptToken(func(tok string) bool { return tok == "good" })
	if _, status := dealerTestDial(t, hs, "bad"); status != http.StatusUnauthorized {
		t.Errorf("bad token: status %d, want 401", status)
	}
	if _, status := dealerTestDial(t, hs, ""); status != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", status)
	}
	s.RefuseUpgrades(http.StatusServiceUnavailable, 2)
	for i := 0; i < 2; i++ {
		if _, status := dealerTestDial(t, hs, "good"); status != http.StatusServiceUnavailable {
			t.Errorf("refusal %d: status %d, want 503", i+1, status)
		}
	}
	if _, status := dealerTestDial(t, hs, "good"); status != http.StatusSwitchingProtocols {
		t.Errorf("after the refusals: status %d, want 101", status)
	}
	s.RefuseUpgrades(http.StatusUnauthorized, -1)
	for i := 0; i < 3; i++ {
		if _, status := dealerTestDial(t, hs, "good"); status != http.StatusUnauthorized {
			t.Errorf("refusing forever, attempt %d: status %d", i+1, status)
		}
	}
	want := []string{"bad", "", "good", "good", "good", "good", "good", "good"}
	if got := s.Tokens(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("tokens %q, want %q", got, want)
	}
	if s.Connections() != 1 {
		t.Errorf("%d connections, want 1", s.Connections())
	}
}

func TestDealerServerPings(t *testing.T) {
	s, hs := dealerTestServer(t)
	ws := dealerTestConnect(t, s, hs)
	dealerTestWrite(t, ws, `{"type":"ping"}`)
	if f := dealerTestRead(t, ws); f.Type != "pong" {
		t.Fatalf("answer to a ping: %+v", f)
	}
	s.SetAnswerPings(false)
	dealerTestWrite(t, ws, `{"type":"ping"}`)
	if err := s.WaitPings(dealerTestCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	// The next frame is whatever the test sends, not a pong.
	dealerTestRoundTrip(t, s, ws)
	if s.Pings() != 2 {
		t.Errorf("%d pings", s.Pings())
	}
}

func TestDealerServerPushesAndCollects(t *testing.T) {
	s, hs := dealerTestServer(t)
	ws := dealerTestConnect(t, s, hs)
	ctx := dealerTestCtx(t)

	p, err := DealerCommandPayload(5, "phone", map[string]any{"endpoint": "pause"})
	if err != nil {
		t.Fatal(err)
	}
	for _, gz := range []bool{false, true} {
		if err := s.SendRequest(ctx, DealerRequest{Key: "k", Payload: p, Gzip: gz}); err != nil {
			t.Fatal(err)
		}
		f := dealerTestRead(t, ws)
		body := f.Payload.Compressed
		if gz {
			if f.Headers["Transfer-Encoding"] != "gzip" {
				t.Fatalf("gzip request headers %v", f.Headers)
			}
			body = dealerTestGunzip(t, body)
		}
		if f.Type != "request" || f.Key != "k" || f.MessageIdent != DealerCommandIdent || !bytes.Equal(body, p) {
			t.Fatalf("request %+v with payload %s", f, body)
		}
	}
	if want := `{"message_id":5,"sent_by_device_id":"phone","command":{"endpoint":"pause"}}`; string(p) != want {
		t.Errorf("payload %s, want %s", p, want)
	}

	if err := s.SendMessage(ctx, DealerMessage{URI: "hm://a", Payload: []byte("vol"), Gzip: true, Headers: map[string]string{"X": "y"}}); err != nil {
		t.Fatal(err)
	}
	f := dealerTestRead(t, ws)
	raw, _ := base64.StdEncoding.DecodeString(f.Payloads[0])
	if f.URI != "hm://a" || f.Headers["X"] != "y" || f.Headers["Transfer-Encoding"] != "gzip" || string(dealerTestGunzip(t, raw)) != "vol" {
		t.Errorf("message %+v", f)
	}
	if err := s.SendMessage(ctx, DealerMessage{URI: "hm://b", Payloads: [][]byte{[]byte("a"), []byte("b")}}); err != nil {
		t.Fatal(err)
	}
	if f := dealerTestRead(t, ws); len(f.Payloads) != 2 {
		t.Errorf("message with %d payloads, want 2", len(f.Payloads))
	}
	if err := s.SendRaw(ctx, []byte(`{"type":"junk"}`)); err != nil {
		t.Fatal(err)
	}
	if f := dealerTestRead(t, ws); f.Type != "junk" {
		t.Errorf("raw frame %+v", f)
	}

	dealerTestWrite(t, ws, `{"type":"reply","key":"k","payload":{"success":true}}`)
	dealerTestWrite(t, ws, `{"type":"reply","key":"k","payload":{"success":false}}`)
	dealerTestWrite(t, ws, `{"type":"hello"}`)
	if ok, err := s.WaitReply(ctx, "k"); err != nil || !ok {
		t.Fatalf("WaitReply %v %v", ok, err)
	}
	dealerTestRoundTrip(t, s, ws) // the three frames are in

	if got := s.Replies("k"); len(got) != 2 || !got[0] || got[1] {
		t.Errorf("replies %v, want [true false]", got)
	}
	if got := s.OtherFrames(); len(got) != 1 || string(got[0]) != `{"type":"hello"}` {
		t.Errorf("other frames %q", got)
	}
}

func TestDealerServerWaitEndsWithContext(t *testing.T) {
	s, _ := dealerTestServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.WaitReply(ctx, "never"); err == nil || !strings.Contains(err.Error(), "the reply to never") {
		t.Errorf("err %v", err)
	}
	if err := s.SendRaw(ctx, []byte("x")); err == nil {
		t.Error("SendRaw without a connection did not fail")
	}
}

func TestDealerServerDropAndClose(t *testing.T) {
	s, hs := dealerTestServer(t)
	ws := dealerTestConnect(t, s, hs)
	if err := s.Drop(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.Read(dealerTestCtx(t)); err == nil {
		t.Fatal("read after a drop did not fail")
	}
	if err := s.WaitDisconnected(dealerTestCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(); err == nil {
		t.Error("a second Drop found a live connection")
	}
	ws2, _ := dealerTestDial(t, hs, "tok")
	dealerTestRead(t, ws2)
	s.Close() // ends the second connection and waits for its handler
	if _, _, err := ws2.Read(dealerTestCtx(t)); err == nil {
		t.Fatal("read after Close did not fail")
	}
	if _, status := dealerTestDial(t, hs, "tok"); status != http.StatusServiceUnavailable {
		t.Errorf("upgrade after Close: status %d, want 503", status)
	}
}

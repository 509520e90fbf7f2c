package spotifytest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	playerpb "github.com/devgianlu/go-librespot/proto/spotify/player"
	"google.golang.org/protobuf/proto"
)

type spclientTestEnv struct {
	s  *SpclientServer
	ts *httptest.Server
}

func newSpclientTestEnv(t *testing.T) *spclientTestEnv {
	s := NewSpclientServer()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return &spclientTestEnv{s, ts}
}

func (e *spclientTestEnv) do(t *testing.T, method, path string, header map[string]string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok")
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func spclientTestPut(volume uint32) []byte {
	b, _ := proto.Marshal(&connectpb.PutStateRequest{
		PutStateReason: connectpb.PutStateReason_VOLUME_CHANGED,
		Device:         &connectpb.Device{DeviceInfo: &connectpb.DeviceInfo{Volume: volume}},
	})
	return b
}

var spclientPB = map[string]string{"Content-Type": "application/x-protobuf", "X-Spotify-Connection-Id": "c1"}

func TestSpclientServerPutStateRecordsAndWaits(t *testing.T) {
	e := newSpclientTestEnv(t)
	e.s.SetConnectStateCluster(&connectpb.Cluster{ActiveDeviceId: "other"})

	got := make(chan ConnectStatePut, 1)
	go func() {
		p, err := e.s.WaitConnectStatePut(context.Background(), 2)
		if err != nil {
			t.Error(err)
		}
		got <- p
	}()
	for _, v := range []uint32{10, 20} {
		status, b := e.do(t, http.MethodPut, "/connect-state/v1/devices/dev1", spclientPB, spclientTestPut(v))
		var cl connectpb.Cluster
		if status != 200 || proto.Unmarshal(b, &cl) != nil || cl.GetActiveDeviceId() != "other" {
			t.Fatalf("PUT: %d %q", status, b)
		}
	}
	p := <-got
	if p.DeviceID != "dev1" || p.ConnectionID != "c1" || p.Reason != connectpb.PutStateReason_VOLUME_CHANGED ||
		p.Request.GetDevice().GetDeviceInfo().GetVolume() != 20 || !bytes.Equal(p.Body, spclientTestPut(20)) {
		t.Errorf("second PUT %+v", p)
	}
	if n := len(e.s.ConnectStatePuts("dev1")); n != 2 {
		t.Errorf("%d PUTs for dev1", n)
	}
	if n := len(e.s.ConnectStatePuts("dev2")); n != 0 {
		t.Errorf("%d PUTs for dev2", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := e.s.WaitConnectStatePut(ctx, 3); err == nil {
		t.Error("waiting for a PUT that never comes returned no error")
	}
}

func TestSpclientServerRefusals(t *testing.T) {
	e := newSpclientTestEnv(t)
	e.s.SetAuthorize(func(tok string) bool { return tok == "tok" })
	for _, tc := range []struct {
		name   string
		header map[string]string
		body   []byte
		status int
		errTyp string
	}{
		{"no bearer", map[string]string{"Authorization": ""}, spclientTestPut(1), 401, "UNAUTHORIZED"},
		{"refused bearer", map[string]string{"Authorization": "Bearer old"}, spclientTestPut(1), 401, "UNAUTHORIZED"},
		{"no connection id", map[string]string{"Content-Type": "application/x-protobuf"}, spclientTestPut(1), 400, "MISSING_CONNECTION_ID"},
		{"wrong content type", map[string]string{"Content-Type": "application/json", "X-Spotify-Connection-Id": "c"}, spclientTestPut(1), 400, "BAD_CONTENT_TYPE"},
		{"garbage body", spclientPB, []byte{0xff, 0xff}, 400, "BAD_REQUEST"},
		{"empty body", spclientPB, nil, 400, "BAD_REQUEST"},
	} {
		status, b := e.do(t, http.MethodPut, "/connect-state/v1/devices/dev1", tc.header, tc.body)
		var eb struct {
			ErrorType string `json:"error_type"`
			Message   string `json:"message"`
		}
		if status != tc.status || json.Unmarshal(b, &eb) != nil || eb.ErrorType != tc.errTyp || eb.Message == "" {
			t.Errorf("%s: %d %s", tc.name, status, b)
		}
	}
	if n := len(e.s.ConnectStatePuts("")); n != 0 {
		t.Errorf("%d refused PUTs recorded", n)
	}
}

func TestSpclientServerInactive(t *testing.T) {
	e := newSpclientTestEnv(t)
	status, _ := e.do(t, http.MethodPut, "/connect-state/v1/devices/dev1/inactive?notify=false", map[string]string{"X-Spotify-Connection-Id": "c9"}, nil)
	if status != http.StatusNoContent {
		t.Fatalf("status %d", status)
	}
	in, err := e.s.WaitConnectStateInactive(context.Background(), 1)
	if err != nil || in != (ConnectStateInactive{DeviceID: "dev1", ConnectionID: "c9", RawQuery: "notify=false"}) {
		t.Errorf("inactive %+v, %v", in, err)
	}
}

func TestSpclientServerContextsPagesAutoplay(t *testing.T) {
	e := newSpclientTestEnv(t)
	ctxMsg := &connectpb.Context{Uri: "spotify:album:a", Pages: []*connectpb.ContextPage{{PageUrl: "hm://p/1?x=1"}}}
	e.s.SetSpclientContext("spotify:album:a", ctxMsg)
	e.s.SetSpclientPage("p/1?x=1", &connectpb.ContextPage{Tracks: []*connectpb.ContextTrack{{Uri: "spotify:track:t"}}})
	e.s.SetSpclientAutoplay("spotify:album:a", &connectpb.Context{Uri: "spotify:station:album:a"})

	if status, b := e.do(t, http.MethodGet, "/context-resolve/v1/spotify:album:a", nil, nil); status != 200 || !bytes.Equal(b, SpclientJSON(ctxMsg)) {
		t.Errorf("context: %d %s", status, b)
	}
	if status, _ := e.do(t, http.MethodGet, "/context-resolve/v1/spotify:album:b", nil, nil); status != 404 {
		t.Errorf("unknown context: %d", status)
	}
	if status, b := e.do(t, http.MethodGet, "/p/1?x=1", nil, nil); status != 200 || !bytes.Contains(b, []byte("spotify:track:t")) {
		t.Errorf("page: %d %s", status, b)
	}
	if status, _ := e.do(t, http.MethodGet, "/p/1?x=2", nil, nil); status != 404 {
		t.Errorf("page with another query: %d", status)
	}
	if status, _ := e.do(t, http.MethodGet, "/p/1%3Fx=1", nil, nil); status != 404 {
		t.Errorf("page with an escaped '?' (v0.7.4's defect) was served: %d", status)
	}

	ap, _ := proto.Marshal(&playerpb.AutoplayContextRequest{ContextUri: proto.String("spotify:album:a"), RecentTrackUri: []string{"spotify:track:t"}})
	if status, b := e.do(t, http.MethodPost, "/context-resolve/v1/autoplay", map[string]string{"Content-Type": "application/x-protobuf"}, ap); status != 200 || !bytes.Contains(b, []byte("spotify:station:album:a")) {
		t.Errorf("autoplay: %d %s", status, b)
	}
	ap2, _ := proto.Marshal(&playerpb.AutoplayContextRequest{ContextUri: proto.String("spotify:album:z")})
	if status, _ := e.do(t, http.MethodPost, "/context-resolve/v1/autoplay", nil, ap2); status != 404 {
		t.Errorf("autoplay without a station: %d", status)
	}
	if status, _ := e.do(t, http.MethodPost, "/context-resolve/v1/autoplay", nil, []byte{0xff}); status != 400 {
		t.Errorf("garbage autoplay request: %d", status)
	}
	reqs := e.s.SpclientAutoplayRequests()
	if len(reqs) != 2 || reqs[0].GetContextUri() != "spotify:album:a" || len(reqs[0].GetRecentTrackUri()) != 1 {
		t.Errorf("autoplay requests %v", reqs)
	}
}

package spotifytest_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	librespot "github.com/devgianlu/go-librespot"
	"github.com/devgianlu/go-librespot/apresolve"

	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// echoHandler answers with the method, path and body it got, and the
// protocol the request came over.
func echoHandler(tag string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Proto", r.Proto)
		_, _ = io.WriteString(w, tag+" "+r.Method+" "+r.URL.Path+" "+string(b))
	})
}

func do(t *testing.T, c *http.Client, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, string(b)
}

func TestRoutingByHostWithPortStripped(t *testing.T) {
	f := spotifytest.New(t)
	f.Handle("spclient.test", echoHandler("sp"))
	f.Handle("Dealer.TEST", echoHandler("dl"))
	c := f.Client()

	for _, tc := range []struct{ url, want string }{
		{"https://spclient.test:443/a", "sp GET /a "},
		{"https://spclient.test/b", "sp GET /b "},
		{"https://dealer.test:443/c", "dl GET /c "},
		{"https://cdn-a.test:8443/x", ""},
	} {
		resp, body := do(t, c, http.MethodGet, tc.url, "")
		if tc.want == "" {
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"cdn-a.test"`) {
				t.Errorf("%s: got %d %q, want 404 naming the host", tc.url, resp.StatusCode, body)
			}
			continue
		}
		if resp.StatusCode != http.StatusOK || body != tc.want {
			t.Errorf("%s: got %d %q, want 200 %q", tc.url, resp.StatusCode, body, tc.want)
		}
		if p := resp.Header.Get("X-Proto"); p != "HTTP/2.0" {
			t.Errorf("%s: served over %s, want HTTP/2.0 like Spotify", tc.url, p)
		}
	}
}

func TestTLSTrustsOnlyTheFakesCA(t *testing.T) {
	f := spotifytest.New(t)
	// The same routing without the fake's CA: the certificate must not verify.
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, f.Addr())
		},
		TLSClientConfig: &tls.Config{},
	}
	defer tr.CloseIdleConnections()
	_, err := (&http.Client{Transport: tr}).Get("https://apresolve.spotify.com/")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the test CA: err = %v, want a certificate error", err)
	}
	// And with it, every name the fake serves verifies.
	for _, host := range []string{"apresolve.spotify.com", "clienttoken.spotify.com", "login5.spotify.com",
		"accounts.spotify.com", "spclient.test", "dealer.test", "cdn-b.test"} {
		if _, err := f.Client().Get("https://" + host + "/"); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
}

func TestRecorderKeepsBodyAndHandlerGetsIt(t *testing.T) {
	f := spotifytest.New(t)
	f.Handle("spclient.test", echoHandler("sp"))
	before := time.Now()
	req, _ := http.NewRequest(http.MethodPut, "https://spclient.test:443/connect-state/v1/devices/abc?notify=false", strings.NewReader("payload"))
	req.Header.Set("X-Spotify-Connection-Id", "C1")
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "sp PUT /connect-state/v1/devices/abc payload" {
		t.Fatalf("handler saw %q", b)
	}
	var got []spotifytest.Request
	for _, r := range f.Requests() {
		if r.Host == "spclient.test" {
			got = append(got, r)
		}
	}
	if len(got) != 1 {
		t.Fatalf("recorded %d requests to spclient.test, want 1: %+v", len(got), f.Requests())
	}
	r := got[0]
	if r.Method != http.MethodPut || r.Path != "/connect-state/v1/devices/abc" || r.RawQuery != "notify=false" ||
		string(r.Body) != "payload" || r.Header.Get("X-Spotify-Connection-Id") != "C1" || r.Time.Before(before) {
		t.Errorf("recorded %+v", r)
	}
	// Requests returns a copy: changing it does not change the record.
	got[0].Body[0] = 'X'
	f.Requests()[0].Path = "changed"
	for _, r := range f.Requests() {
		if r.Path == "changed" {
			t.Error("Requests shares its slice with the fake")
		}
	}
}

func TestKnobStatusAndRetryAfter(t *testing.T) {
	f := spotifytest.New(t)
	f.Handle("spclient.test", echoHandler("sp"))
	k := f.Knob("spclient.test", "/connect-state/")
	k.SetStatus(http.StatusTooManyRequests, 2)
	k.SetRetryAfter("7")
	c := f.Client()

	for i := range 2 {
		resp, _ := do(t, c, http.MethodPut, "https://spclient.test/connect-state/v1/devices/x", "b")
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "7" {
			t.Fatalf("request %d: %d Retry-After %q, want 429 with 7", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	// Other paths are not matched.
	if resp, _ := do(t, c, http.MethodGet, "https://spclient.test/other", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("unmatched path answered %d", resp.StatusCode)
	}
	if resp, body := do(t, c, http.MethodPut, "https://spclient.test/connect-state/v1/devices/x", "b"); resp.StatusCode != http.StatusOK || body != "sp PUT /connect-state/v1/devices/x b" {
		t.Fatalf("third request: %d %q, want the handler's answer", resp.StatusCode, body)
	}
	if k.Hits() != 2 {
		t.Errorf("Hits = %d, want 2", k.Hits())
	}

	// n<0 answers until Reset; the same knob comes back for the same match.
	f.Knob("spclient.test", "/connect-state/").SetStatus(http.StatusBadGateway, -1)
	for range 3 {
		if resp, _ := do(t, c, http.MethodGet, "https://spclient.test/connect-state/", ""); resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("forever knob answered %d", resp.StatusCode)
		}
	}
	k.Reset()
	if resp, _ := do(t, c, http.MethodGet, "https://spclient.test/connect-state/", ""); resp.StatusCode != http.StatusOK || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("after Reset: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// All knob-answered requests were recorded too.
	if n := len(f.Requests()); n != 8 {
		t.Errorf("recorded %d requests, want 8", n)
	}
}

func TestKnobAnyHost(t *testing.T) {
	f := spotifytest.New(t)
	f.Knob("", "/").SetStatus(http.StatusServiceUnavailable, -1)
	for _, u := range []string{"https://apresolve.spotify.com/?type=dealer", "https://spclient.test/x"} {
		if resp, _ := do(t, f.Client(), http.MethodGet, u, ""); resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s: %d, want 503", u, resp.StatusCode)
		}
	}
}

func TestKnobDelayHoldsTheAnswerBack(t *testing.T) {
	f := spotifytest.New(t)
	reached := make(chan struct{}, 10)
	f.Handle("spclient.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached <- struct{}{}
		echoHandler("sp").ServeHTTP(w, r)
	}))
	k := f.Knob("spclient.test", "/slow")
	k.SetDelay(time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://spclient.test/slow", nil)
		resp, err := f.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	// Wait (by polling, not by guessing a duration) until the fake has the
	// request: from then on only the delay keeps it from the handler.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for len(f.Requests()) == 0 {
		<-tick.C
	}
	select {
	case <-reached:
		t.Fatal("a delayed request reached the handler")
	case err := <-errc:
		t.Fatalf("a delayed request was answered: %v", err)
	default:
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("delayed request: err = %v, want the client's cancellation", err)
	}
	if len(reached) != 0 {
		t.Fatal("the handler ran for a request abandoned during its delay")
	}

	// Not delayed: another path, then the same path after Reset.
	if resp, _ := do(t, f.Client(), http.MethodGet, "https://spclient.test/fast", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("unmatched path: %d", resp.StatusCode)
	}
	k.Reset()
	if resp, body := do(t, f.Client(), http.MethodGet, "https://spclient.test/slow", ""); resp.StatusCode != http.StatusOK || body != "sp GET /slow " {
		t.Fatalf("after Reset: %d %q", resp.StatusCode, body)
	}
	if len(reached) != 2 {
		t.Fatalf("handler reached %d times, want 2", len(reached))
	}
}

// http1Client is the fake's client limited to HTTP/1.1, where a drop
// closes the TCP connection.
func http1Client(f *spotifytest.Fake) *http.Client {
	tr := f.Client().Transport.(*http.Transport).Clone()
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	return &http.Client{Transport: tr}
}

func TestKnobDropNext(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client func(*spotifytest.Fake) *http.Client
		proto  string
	}{
		{"h2", (*spotifytest.Fake).Client, "HTTP/2.0"},
		{"http1", http1Client, "HTTP/1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := spotifytest.New(t)
			f.Handle("spclient.test", echoHandler("sp"))
			k := f.Knob("spclient.test", "/")
			k.DropNext(2)
			c := tc.client(f)
			// POST: Go's Transport does not replay it by itself.
			for i := range 2 {
				resp, err := c.Post("https://spclient.test/p", "text/plain", strings.NewReader("x"))
				if err == nil {
					resp.Body.Close()
					t.Fatalf("drop %d: got HTTP %d, want a transport error", i, resp.StatusCode)
				}
			}
			resp, body := do(t, c, http.MethodPost, "https://spclient.test/p", "x")
			if resp.StatusCode != http.StatusOK || body != "sp POST /p x" || resp.Header.Get("X-Proto") != tc.proto {
				t.Fatalf("after the drops: %d %q over %s", resp.StatusCode, body, resp.Header.Get("X-Proto"))
			}
			if k.Hits() != 2 {
				t.Errorf("Hits = %d, want 2", k.Hits())
			}
		})
	}
}

// The dealer's websocket upgrade needs HTTP/1.1 while the fake also offers
// h2: coder/websocket through the fake's client must connect.
func TestWebsocketUpgradeThroughFake(t *testing.T) {
	f := spotifytest.New(t)
	f.Handle("dealer.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("access_token") != "tok" {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		_ = c.Write(r.Context(), typ, append([]byte("echo "), msg...))
		_ = c.Close(websocket.StatusNormalClosure, "")
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "wss://dealer.test:443/?access_token=bad", &websocket.DialOptions{HTTPClient: f.Client()})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("refused upgrade: err %v, resp %v", err, resp)
	}
	c, _, err := websocket.Dial(ctx, "wss://dealer.test:443/?access_token=tok", &websocket.DialOptions{HTTPClient: f.Client()})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil || string(msg) != `echo {"type":"ping"}` {
		t.Fatalf("read %q, %v", msg, err)
	}
}

func TestApresolveLists(t *testing.T) {
	f := spotifytest.New(t)
	resp, body := do(t, f.Client(), http.MethodGet, "https://apresolve.spotify.com/?type=dealer&type=spclient", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var got map[string][]string
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["dealer"][0] != "dealer.test:443" || got["spclient"][0] != "spclient.test:443" {
		t.Errorf("got %v", got)
	}
	f.Apresolve().SetAddresses("accesspoint", "ap1.test:443", "ap2.test:80")
	_, body = do(t, f.Client(), http.MethodGet, "https://apresolve.spotify.com/?type=accesspoint", "")
	if strings.TrimSpace(body) != `{"accesspoint":["ap1.test:443","ap2.test:80"]}` {
		t.Errorf("got %s", body)
	}
	if resp, _ := do(t, f.Client(), http.MethodPost, "https://apresolve.spotify.com/", ""); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST answered %d", resp.StatusCode)
	}
}

// Third-party code with a hard-coded URL reaches the fake through Client:
// go-librespot v0.7.4's apresolve, unmodified.
func TestGoLibrespotApresolveInterop(t *testing.T) {
	f := spotifytest.New(t)
	f.Apresolve().SetAddresses("spclient", "spclient.test:443", "spclient2.test:443")
	r := apresolve.NewApResolver(&librespot.NullLogger{}, f.Client())
	ctx := context.Background()
	for _, tc := range []struct {
		get  func(context.Context) (librespot.GetAddressFunc, error)
		want []string
	}{
		{r.GetSpclient, []string{"spclient.test:443", "spclient2.test:443"}},
		{r.GetDealer, []string{spotifytest.DefaultDealerAddr}},
		{r.GetAccesspoint, []string{spotifytest.DefaultAccesspointAddr}},
	} {
		next, err := tc.get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if got := next(ctx); got != w {
				t.Errorf("address %q, want %q", got, w)
			}
		}
	}
	var seen bool
	for _, req := range f.Requests() {
		if req.Host == spotifytest.ApresolveHost && req.Method == http.MethodGet && strings.Contains(req.RawQuery, "type=spclient") {
			seen = true
		}
	}
	if !seen {
		t.Errorf("no apresolve request recorded: %+v", f.Requests())
	}
}

func TestCleanupClosesTheListener(t *testing.T) {
	var addr string
	t.Run("inner", func(t *testing.T) {
		f := spotifytest.New(t)
		addr = f.Addr()
		if _, err := f.Client().Get("https://apresolve.spotify.com/"); err != nil {
			t.Fatal(err)
		}
	})
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("listener %s still accepts after cleanup", addr)
	}
}

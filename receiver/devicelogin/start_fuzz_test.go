package devicelogin

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// fuzzTransport answers every request with one status and body, in process.
type fuzzTransport struct {
	status int
	body   []byte
}

func (t fuzzTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: t.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(t.body)), Request: req,
	}, nil
}

// FuzzStart: whatever the device authorization endpoint sends, Start does
// not panic, and a code it accepts is one we can show and poll for: an
// https address, a user code, a bounded interval and a validity in the
// future of at most an hour.
func FuzzStart(f *testing.F) {
	f.Add(200, []byte(`{"device_code":"d","user_code":"ABCD","verification_uri":"https://www.spotify.com/pair","verification_uri_complete":"https://www.spotify.com/pair?code=ABCD","expires_in":900,"interval":5}`))
	f.Add(200, []byte(`{"device_code":"d","user_code":"u","verification_url":"https://x.test/","expires_in":99999999999999,"interval":-3}`))
	f.Add(200, []byte(`{"device_code":"d","user_code":"u","verification_uri":"javascript:alert(1)"}`))
	f.Add(400, []byte(`{"error":"invalid_client","error_description":"\u001b]0;"}`))
	f.Add(200, []byte(`{"expires_in":"soon"}`))
	f.Add(200, []byte(`{"device_code":"d","user_code":"\u001b[31mX","verification_uri":"https://www.spotify.com/pair"}`))
	now := time.Date(2026, 12, 3, 21, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		flow := New(Config{HTTP: &http.Client{Transport: fuzzTransport{status, body}}, Now: func() time.Time { return now }})
		c, err := flow.Start(context.Background())
		if err != nil {
			return
		}
		if c.UserCode == "" || !showable(c.UserCode, maxUserCode) || c.deviceCode == "" || !httpsAddress(c.VerificationURI) || !httpsAddress(c.Address()) ||
			c.Interval < minInterval || c.Interval > maxInterval || !c.Expires.After(now) || c.Expires.Sub(now) > maxValidFor {
			t.Fatalf("accepted %+v from %d %q", c, status, body)
		}
	})
}

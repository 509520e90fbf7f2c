package devicelogin

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestParseTokenAnswer(t *testing.T) {
	for _, c := range []struct {
		status    int
		body      string
		token     string
		code      string
		transient bool
	}{
		{200, `{"access_token":"tok","token_type":"Bearer","expires_in":3600}`, "tok", "", false},
		{200, `{"access_token":"tok"}`, "tok", "", false},
		{200, `{"access_token":"tok","token_type":"mac"}`, "", "", false},
		{200, `{"token_type":"Bearer"}`, "", "", true},
		{200, `<html>`, "", "", true},
		{400, `{"error":"authorization_pending"}`, "", "authorization_pending", false},
		{400, `{"error":"slow_down","error_description":"x"}`, "", "slow_down", false},
		{401, `{"error":"invalid_client"}`, "", "invalid_client", false},
		{400, `not json`, "", "", false},
		{429, ``, "", "", true},
		{502, `{"error":"authorization_pending"}`, "", "", true},
		{302, ``, "", "", false},
	} {
		tok, err := parseTokenAnswer(c.status, []byte(c.body))
		var pe *pollError
		errors.As(err, &pe)
		switch {
		case c.token != "":
			if tok != c.token || err != nil {
				t.Errorf("%d %s: %q, %v", c.status, c.body, tok, err)
			}
		case pe == nil || tok != "" || pe.code != c.code || pe.transient != c.transient:
			t.Errorf("%d %s: %q, %#v, want code %q transient %v", c.status, c.body, tok, pe, c.code, c.transient)
		}
	}
}

// FuzzParseTokenAnswer: whatever the token endpoint sends, the parser does
// not panic, gives a token or an error (never both, never neither), and an
// error's text is bounded and free of control characters.
func FuzzParseTokenAnswer(f *testing.F) {
	f.Add(200, []byte(`{"access_token":"tok","token_type":"Bearer"}`))
	f.Add(400, []byte(`{"error":"authorization_pending"}`))
	f.Add(400, []byte(`{"error":"slow_down","error_description":"poll slower"}`))
	f.Add(400, []byte(`{"error":"access_denied"}`))
	f.Add(500, []byte(`<html>bad gateway</html>`))
	f.Add(401, []byte(`{"error":"x\u001b[2J","error_description":"\u0000\u00ff"}`))
	f.Add(200, []byte(`{"access_token":""}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		tok, err := parseTokenAnswer(status, body)
		if (tok == "") == (err == nil) {
			t.Fatalf("token %q and error %v", tok, err)
		}
		if err == nil {
			return
		}
		msg := err.Error()
		if len(msg) > 600 || !utf8.ValidString(msg) || strings.ContainsFunc(msg, unicode.IsControl) {
			t.Fatalf("error text %q", msg)
		}
	})
}

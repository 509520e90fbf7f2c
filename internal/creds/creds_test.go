package creds

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// Credentials must never reach a log or an error text whole: not through
// slog (text or JSON, as a value or inside a group), nor through any fmt
// verb, nor wrapped in an Entry.
func TestCredentialsNeverPrintTheirSecret(t *testing.T) {
	c := Credentials{Username: "alice.smith", AuthType: AuthStoredSpotify, AuthData: []byte("SECRETSECRET")}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("login", "creds", c)
		l.Info("entry", "e", Entry{Credentials: c, Verified: true})
		l.Info("ptr", "creds", &c)
		l.With(slog.Group("g", "creds", c)).Info("grouped")
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		fmt.Fprintf(&buf, verb+"\n", c)
		fmt.Fprintf(&buf, verb+"\n", Entry{Credentials: c})
		fmt.Fprintf(&buf, verb+"\n", []Credentials{c})
	}
	out := buf.String()
	for _, leak := range []string{"SECRET", "U0VDUkVU", "alice.smith", "83 69 67"} {
		if strings.Contains(out, leak) {
			t.Fatalf("output contains %q:\n%s", leak, out)
		}
	}
	if !strings.Contains(out, "al…h") || !strings.Contains(out, "auth_data_len=12") || !strings.Contains(out, `"auth_type":"stored"`) {
		t.Fatalf("output lacks the redacted summary:\n%s", out)
	}
	if got, want := c.String(), "Credentials{user al…h, type 1, 12 bytes}"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
}

func TestAuthTypeString(t *testing.T) {
	for ty, want := range map[AuthType]string{AuthUserPass: "password", AuthStoredSpotify: "stored", AuthStoredFacebook: "stored-facebook", AuthSpotifyToken: "token", AuthFacebookToken: "facebook-token", 9: "type-9"} {
		if got := ty.String(); got != want {
			t.Errorf("%d: %q, want %q", int32(ty), got, want)
		}
	}
}

func TestParseRefusesOutOfRangeAuthType(t *testing.T) {
	// 2^32+1 would wrap to 1 in an int32.
	for _, in := range []string{
		`{"username":"a","auth_type":4294967297,"auth_data":"QUJD"}`,
		`{"username":"a","auth_type":-1,"auth_data":"QUJD"}`,
		`{"username":"a","auth_type":1.5,"auth_data":"QUJD"}`,
	} {
		if c, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%s) = %v", in, c)
		}
	}
}

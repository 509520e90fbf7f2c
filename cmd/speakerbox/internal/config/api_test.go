package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestAPIDefaults(t *testing.T) {
	l, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	a := l.Config.API
	if a.Address != "127.0.0.1:4070" || a.Token != "" || !a.Enabled() || !a.Loopback() {
		t.Fatalf("api defaults: %+v enabled=%v loopback=%v", a, a.Enabled(), a.Loopback())
	}
	if err := CheckAPIExposure(a, l.Source); err != nil {
		t.Fatalf("default refused: %v", err)
	}
}

func TestAPILoopback(t *testing.T) {
	cases := map[string]bool{
		"127.0.0.1:4070": true, "127.1.2.3:80": true, "[::1]:4070": true, "localhost:4070": true, "LOCALHOST:1": true,
		":4070": false, "0.0.0.0:4070": false, "[::]:4070": false, "192.168.1.5:4070": false, "speaker.lan:4070": false,
	}
	for addr, want := range cases {
		if got := (API{Address: addr}).Loopback(); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", addr, got, want)
		}
	}
	for _, off := range []string{"", "off"} {
		if (API{Address: off}).Enabled() {
			t.Errorf("address %q enables the API", off)
		}
	}
}

func TestAPIValidation(t *testing.T) {
	const secret = "short-secret"
	cases := []struct {
		name string
		args []string
		want []string
		key  string
	}{
		{"no port", []string{"--api.address=127.0.0.1"}, []string{"api.address", `"127.0.0.1"`, "flag --api.address", "host:port"}, "api.address"},
		{"bad port", []string{"--api.address=127.0.0.1:http2"}, []string{"api.address", "host:port"}, "api.address"},
		{"port range", []string{"--api.address=:70000"}, []string{"api.address", `":70000"`}, "api.address"},
		{"short token", []string{"--api.token=" + secret}, []string{"api.token", "not a usable token", `"***"`, "at least 16 printable"}, "api.token"},
		{"token with space", []string{"--api.token=aaaaaaaa bbbbbbbbbbb"}, []string{"api.token", "not a usable token"}, "api.token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, "", nil, c.args...)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *Error", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
			if ce.Key != c.key {
				t.Errorf("key %q, want %q", ce.Key, c.key)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("token echoed: %q", err)
			}
		})
	}
}

func TestAPIExposureNeedsToken(t *testing.T) {
	l, err := load(t, "api:\n  address: \":4070\"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = CheckAPIExposure(l.Config.API, l.Source)
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "api.token" {
		t.Fatalf("beyond loopback without a token: err = %v, want *Error for api.token", err)
	}
	for _, w := range []string{`":4070"`, "speakerbox.yaml:2", "beyond this machine", "at least 16"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message %q lacks %q", err, w)
		}
	}
	l, err = load(t, "api:\n  address: \":4070\"\n", []string{"SPEAKERBOX_API_TOKEN=0123456789abcdef0123"})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckAPIExposure(l.Config.API, l.Source); err != nil {
		t.Fatalf("with a token: %v", err)
	}
	l, err = load(t, "", nil, "--api.address=off")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckAPIExposure(l.Config.API, l.Source); err != nil {
		t.Fatalf("API off: %v", err)
	}
}

func TestAPITokenMaskedInPrint(t *testing.T) {
	const token = "0123456789abcdef-secret"
	l, err := load(t, "", []string{"SPEAKERBOX_API_TOKEN=" + token})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	l.Print(&b)
	if strings.Contains(b.String(), token) {
		t.Fatalf("token printed:\n%s", b.String())
	}
	if !strings.Contains(b.String(), `api.token: "***"  # env SPEAKERBOX_API_TOKEN`) {
		t.Errorf("print lacks the masked token:\n%s", b.String())
	}
}

package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultAPIAddress keeps the local API on the speaker itself until the
// owner opens it up (and sets a token).
const DefaultAPIAddress = "127.0.0.1:4070"

// minTokenLen: a token is a shared secret on the local network; anything
// shorter is guessable by a script trying tokens.
const minTokenLen = 16

// API configures the local status and control API.
type API struct {
	Address string // host:port; "off" or "" disables the API
	Token   string // bearer token; never logged
}

// Enabled is false when api.address is "off" or empty.
func (a API) Enabled() bool { return a.Address != "" && a.Address != "off" }

// Loopback tells whether the API is reachable from this machine only: the
// host is a loopback address or "localhost". An empty host (":4070") or any
// other name listens beyond loopback.
func (a API) Loopback() bool {
	host, _, err := net.SplitHostPort(a.Address)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// CheckAPIExposure refuses an API bound beyond loopback without a token:
// anyone on the network could otherwise pause the music or log the owner
// out. source tells where a key's value came from. The speaker checks it
// before it starts; other commands do not run the API and do not care.
func CheckAPIExposure(a API, source func(key string) string) error {
	if !a.Enabled() || a.Loopback() || a.Token != "" {
		return nil
	}
	return &Error{Key: "api.token", Value: "", Source: source("api.token"),
		Problem: "empty, and api.address " + strconv.Quote(a.Address) + " (from " + source("api.address") + ") is reachable beyond this machine",
		Allowed: "a token of at least " + strconv.Itoa(minTokenLen) + " characters, or an api.address on loopback such as " + DefaultAPIAddress}
}

var apiAddress = &validator{
	ok: func(v any) bool {
		s := v.(string)
		if s == "" || s == "off" {
			return true
		}
		host, port, err := net.SplitHostPort(s)
		if err != nil || strings.ContainsAny(host, " \t\n") {
			return false
		}
		n, err := strconv.Atoi(port)
		return err == nil && n >= 0 && n <= 65535
	},
	allowed: `"off", or host:port such as 127.0.0.1:4070, [::1]:4070 or :4070 (every interface; needs api.token)`,
}

var apiToken = &validator{
	ok: func(v any) bool {
		s := v.(string)
		if s == "" {
			return true
		}
		if len(s) < minTokenLen {
			return false
		}
		for _, r := range s {
			if r <= ' ' || r > '~' {
				return false
			}
		}
		return true
	},
	problem: func(any) string { return "not a usable token" },
	allowed: "empty, or at least 16 printable ASCII characters without spaces (openssl rand -hex 16 makes one)",
}

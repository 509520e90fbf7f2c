package config

import (
	"errors"
	"strings"
	"testing"
)

func TestTimeServers(t *testing.T) {
	l, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(l.Config.Time.Servers, ","); got != "0.pool.ntp.org,1.pool.ntp.org,2.pool.ntp.org" {
		t.Errorf("default time.servers %q", got)
	}
	for _, ok := range []string{"time.example.org", "192.0.2.1:123", "[2001:db8::1]:1234", "2001:db8::1", "ntp-1.example.org."} {
		l, err := load(t, "", nil, "--time.servers="+ok)
		if err != nil {
			t.Errorf("%s: %v", ok, err)
		} else if l.Config.Time.Servers[0] != ok {
			t.Errorf("%s: read as %q", ok, l.Config.Time.Servers)
		}
	}
	for _, tc := range []struct{ file, problem string }{
		{"time:\n  servers: []\n", "no servers"},
		{"time:\n  servers: [pool.ntp.org, \"ntp .example.org\"]\n", `"ntp .example.org" is not a host name or an IP address`},
		{"time:\n  servers: [\"pool.ntp.org:0\"]\n", `port "0" is not 1 to 65535`},
		{"time:\n  servers: [\"pool.ntp.org:ntp\"]\n", `port "ntp" is not 1 to 65535`},
		{"time:\n  servers: [\"-bad.example.org\"]\n", "is not a host name"},
		{"time:\n  servers: [\"[2001:db8::1\"]\n", "is not host:port"},
	} {
		_, err := load(t, tc.file, nil)
		var ce *Error
		if !errors.As(err, &ce) || ce.Key != "time.servers" || !strings.Contains(err.Error(), tc.problem) ||
			!strings.Contains(err.Error(), "allowed: one or more host names or IP addresses") {
			t.Errorf("%q: %v; want an error on time.servers saying %q and what is allowed", tc.file, err, tc.problem)
		}
	}
}

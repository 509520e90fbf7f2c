package receiver

import (
	"testing"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// Without stored credentials the device dials nothing until a phone hands
// over a login; a second phone's login takes over: the first user's
// connection is closed, the apps are told we left, and the new user's
// login registers again.
func TestDeviceWaitsForPhoneThenTakesOver(t *testing.T) {
	e := newDevEnv(t, func(c *DeviceConfig) { c.Credentials = nil })
	first := creds.Credentials{Username: "first", AuthType: creds.AuthStoredSpotify, AuthData: []byte("blob-1")}
	e.must(e.dev.Login(e.ctx, first))
	id1, err := e.ds.WaitConnection(e.ctx, 1)
	e.must(err)
	e.waitPut("NEW_DEVICE", func(p spotifytest.ConnectStatePut) bool { return p.ConnectionID == id1 })

	second := creds.Credentials{Username: "second", AuthType: creds.AuthStoredSpotify, AuthData: []byte("blob-2")}
	e.must(e.dev.Login(e.ctx, second))
	if _, err := e.sp.WaitConnectStateInactive(e.ctx, 1); err != nil {
		t.Fatalf("the first user's session did not leave: %v", err)
	}
	id2, err := e.ds.WaitConnection(e.ctx, 2)
	e.must(err)
	e.waitPut("NEW_DEVICE for the second user", func(p spotifytest.ConnectStatePut) bool { return p.ConnectionID == id2 })

	// Two dials in all: none was made before the first login.
	dials, conns := e.dialer.state()
	if dials != 2 || len(conns) != 2 {
		t.Fatalf("dials %d, connections %d; want 2 and 2", dials, len(conns))
	}
	select {
	case <-conns[0].done:
	default:
		t.Fatal("the first user's access point connection is still open")
	}
	e.dialer.mu.Lock()
	used := append([]creds.Credentials(nil), e.dialer.used...)
	e.dialer.mu.Unlock()
	if used[0].Username != "first" || used[1].Username != "second" {
		t.Fatalf("logins used: %v", used)
	}
}

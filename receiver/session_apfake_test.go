package receiver_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver"
	"github.com/speakerbox/speakerbox/receiver/apconn"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// TestSessionWithAPFake drives the real Session through the access-point
// fake: a login with stored credentials, the reusable ones kept, a lost
// connection re-established with them, then a refusal for good.
func TestSessionWithAPFake(t *testing.T) {
	d := spotifytest.NewAPFakeDialer(spotifytest.APFakeConfig{Username: "anna", Reusable: []byte("reusable")})
	events := make(chan receiver.SessionEvent, 16)
	accepted := make(chan creds.Credentials, 16)
	rejected := make(chan creds.Credentials, 16)
	retries := make(chan time.Duration, 16)
	s := receiver.NewSession(receiver.SessionConfig{
		Dialer:   d,
		Accepted: func(_, reusable creds.Credentials) error { accepted <- reusable; return nil },
		Rejected: func(used creds.Credentials) error { rejected <- used; return nil },
		Events:   func(e receiver.SessionEvent) { events <- e },
		After:    func(d time.Duration) <-chan time.Time { retries <- d; return nil },
	})
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() {
		ran <- s.Run(ctx, &creds.Credentials{Username: "Anna", AuthType: creds.AuthSpotifyToken, AuthData: []byte("token")})
	}()
	defer func() {
		cancel()
		<-ran
	}()
	event := func(kind string) apconn.Conn {
		t.Helper()
		e := <-events
		if e.Kind != kind || e.Username != "anna" || (e.Conn != nil) != (kind == "session_connected") {
			t.Fatalf("event %+v, want %s anna", e, kind)
		}
		return e.Conn
	}

	first, err := d.WaitConn(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c := event("session_connected"); c != first {
		t.Fatalf("session_connected carries %v, want the dialled connection", c)
	}
	if r := <-accepted; r.Username != "anna" || string(r.AuthData) != "reusable" {
		t.Fatalf("accepted %v", r)
	}
	// The connection answers what track loading needs.
	gid, file := [16]byte{1}, [20]byte{2}
	d.AddKey(gid, file, [16]byte{9})
	if k, err := first.AudioKey(ctx, gid, file); k != [16]byte{9} || err != nil {
		t.Fatalf("AudioKey = %x, %v", k, err)
	}

	// Lost: the session logs in again at once, with the reusable
	// credentials, and the next login is refused for good.
	d.Reject("BadCredentials")
	first.Lose()
	event("session_disconnected")
	<-first.Closed()
	if used := <-rejected; used.AuthType != creds.AuthStoredSpotify || string(used.AuthData) != "reusable" {
		t.Fatalf("rejected %v", used)
	}
	logins := d.Logins()
	if len(logins) != 2 || string(logins[0].AuthData) != "token" || string(logins[1].AuthData) != "reusable" {
		t.Fatalf("logins %v", logins)
	}
	if _, err := first.AudioKey(ctx, gid, file); !errors.Is(err, apconn.ErrConnLost) {
		t.Fatalf("AudioKey on the lost connection: %v", err)
	}

	// A phone hands over new credentials: logged in again.
	d.Reject("")
	if err := s.Login(ctx, creds.Credentials{Username: "anna", AuthType: creds.AuthStoredSpotify, AuthData: []byte("from-phone")}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WaitConn(ctx, 2); err != nil {
		t.Fatal(err)
	}
	event("session_connected")
	select {
	case r := <-retries:
		t.Fatalf("a retry (%v) was scheduled, but no login failed for a retryable reason", r)
	default:
	}
}

package login5

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

type fixedToken string

func (s fixedToken) Token(context.Context) (string, error) { return string(s), nil }

// Many requests refused with 401 at once each force a refresh; those that
// waited while one login ran take its token instead of logging in again.
func TestForcedCallersWaitingForOneLoginShareIt(t *testing.T) {
	f := spotifytest.New(t)
	f.Login5().SetCheckClientToken(false)
	entered := make(chan struct{})
	release := make(chan struct{})
	blockNext := false
	l5 := f.Login5()
	f.Handle(spotifytest.Login5Host, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if blockNext { // only the test goroutine's A request runs while this is set
			blockNext = false
			entered <- struct{}{}
			<-release
		}
		l5.ServeHTTP(w, r)
	}))
	c, err := New(Config{
		HTTP: f.Client(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), ClientToken: fixedToken("ct"),
		DeviceID: "dev", Username: spotifytest.DefaultUsername, StoredCredential: []byte(spotifytest.DefaultStoredCredential),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, err := c.Token(ctx, false)
	if err != nil {
		t.Fatal(err)
	}

	blockNext = true
	aDone := make(chan string)
	go func() {
		tok, err := c.Token(ctx, true)
		if err != nil {
			t.Error(err)
		}
		aDone <- tok
	}()
	<-entered // A holds the lock and its login is in flight
	bWaiting := make(chan struct{})
	c.waiting = func() { close(bWaiting) }
	bDone := make(chan string)
	go func() {
		tok, err := c.Token(ctx, true)
		if err != nil {
			t.Error(err)
		}
		bDone <- tok
	}()
	<-bWaiting // B saw the generation before A's login ended
	close(release)
	a, b := <-aDone, <-bDone
	if a == first || b != a {
		t.Fatalf("first %q, A %q, B %q: want B to take A's fresh token", first, a, b)
	}
	if n := f.Login5().Stats().Logins; n != 2 {
		t.Fatalf("%d logins, want 2", n)
	}
}

package main

import (
	"log/slog"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/internal/creds"
)

func TestCredentialListHasNoSecrets(t *testing.T) {
	dir := t.TempDir()
	store := creds.NewStore(dir, slog.New(slog.DiscardHandler), time.Now)
	if err := store.Put(creds.Credentials{Username: "someone", AuthType: 1, AuthData: []byte("secret")}); err != nil {
		t.Fatal(err)
	}
	l := credentialList{store}
	users, err := l.Users()
	if err != nil || len(users) != 1 || users[0].Username != "someone" || users[0].Verified {
		t.Fatalf("users %+v, %v", users, err)
	}
	if found, err := l.Forget("SOMEONE"); !found || err != nil {
		t.Fatalf("forget: %v %v", found, err)
	}
	if users, _ := l.Users(); len(users) != 0 {
		t.Errorf("after forget: %+v", users)
	}
}

package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/logring"
	"github.com/speakerbox/speakerbox/internal/creds"
)

func TestLogRingGetsWhatTheLogGets(t *testing.T) {
	var main bytes.Buffer
	ring := logring.New(10)
	log := withLogRing(slog.New(slog.NewTextHandler(&main, &slog.HandlerOptions{Level: slog.LevelInfo})), ring)
	log.Debug("not shown")
	log.With("component", "audio").WithGroup("g").Info("playing", "track", "one")
	log.Warn("underrun", "n", 2)
	lines := ring.Lines()
	if len(lines) != 2 || !strings.Contains(lines[0], `msg=playing component=audio g.track=one`) || !strings.Contains(lines[1], "level=WARN msg=underrun n=2") {
		t.Fatalf("ring: %q", lines)
	}
	if strings.Count(main.String(), "\n") != 2 || strings.Contains(main.String(), "not shown") {
		t.Errorf("main log: %q", main.String())
	}
}

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

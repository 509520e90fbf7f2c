package spotifytest_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"

	"github.com/speakerbox/speakerbox/receiver/clienttoken"
	"github.com/speakerbox/speakerbox/receiver/login5"
	"github.com/speakerbox/speakerbox/receiver/spclient"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// The login chain against the one fake: client token -> login5 -> spclient
// PUT; a revoked login5 token gets a 401, spclient forces one login5
// refresh and the PUT goes out again with its body.
func TestChainClientTokenLogin5Spclient(t *testing.T) {
	f := spotifytest.New(t)
	sp := spotifytest.NewSpclientServer()
	sp.SetAuthorize(f.Login5().Valid)
	f.Handle("spclient.test", sp)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	const dev = "0123456789abcdef0123456789abcdef01234567"
	ct, err := clienttoken.New(clienttoken.Config{HTTP: f.Client(), Log: log, DeviceID: dev})
	if err != nil {
		t.Fatal(err)
	}
	l5, err := login5.New(login5.Config{HTTP: f.Client(), Log: log, ClientToken: ct, DeviceID: dev,
		Username: spotifytest.DefaultUsername, StoredCredential: []byte(spotifytest.DefaultStoredCredential)})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := spclient.New(spclient.Config{HTTPClient: f.Client(), Addr: spotifytest.DefaultSpclientAddr, DeviceID: dev,
		Token: l5.Token, ClientToken: ct.Token, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := &connectpb.PutStateRequest{PutStateReason: connectpb.PutStateReason_NEW_DEVICE,
		Device: &connectpb.Device{DeviceInfo: &connectpb.DeviceInfo{Name: "Kitchen"}}}
	if _, err := sc.PutState(ctx, "C1", req); err != nil {
		t.Fatal(err)
	}
	f.Login5().RevokeAll()
	if _, err := sc.PutState(ctx, "C1", req); err != nil {
		t.Fatal(err)
	}
	puts := sp.ConnectStatePuts(dev)
	if len(puts) < 2 || f.Login5().Stats().Logins != 2 {
		t.Fatalf("%d accepted PUTs, %d logins", len(puts), f.Login5().Stats().Logins)
	}
	for _, p := range puts {
		t.Logf("PUT %+v", p)
	}
}

package spotifytest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver/apconn"
)

func TestAPFakeLoginAndAccount(t *testing.T) {
	ctx := t.Context()
	f := NewAPFake(APFakeConfig{})
	if f.Username() != DefaultUsername {
		t.Errorf("Username = %q", f.Username())
	}
	r := f.Reusable()
	if r.Username != DefaultUsername || r.AuthType != creds.AuthStoredSpotify || string(r.AuthData) != DefaultStoredCredential {
		t.Errorf("Reusable = %v", r)
	}
	if c, err := f.Country(ctx); c != APDefaultCountry || err != nil {
		t.Errorf("Country = %q, %v", c, err)
	}
	if p, err := f.Product(ctx); !p.Premium() || p.ImageURLFor("ab") != "https://i.scdn.co/image/ab" || err != nil {
		t.Errorf("Product = %+v, %v", p, err)
	}

	// Withheld info: Country waits for SetCountry.
	f = NewAPFake(APFakeConfig{WithholdInfo: true, Username: "anna", Reusable: []byte("r")})
	got := make(chan string, 1)
	go func() { c, _ := f.Country(ctx); got <- c }()
	f.SetCountry("NO")
	if c := <-got; c != "NO" {
		t.Errorf("Country = %q after SetCountry", c)
	}
	f.Lose()
	if _, err := f.Product(ctx); !errors.Is(err, apconn.ErrConnLost) {
		t.Errorf("Product after loss: %v", err)
	}
}

func TestAPFakeKeys(t *testing.T) {
	ctx := t.Context()
	fire := make(chan time.Time)
	var asked time.Duration
	f := NewAPFake(APFakeConfig{KeyTimeout: 2 * time.Second, After: func(d time.Duration) <-chan time.Time { asked = d; return fire }})
	gid, file := [16]byte{1}, [20]byte{2}
	key := [16]byte{0xde, 0xad}
	f.AddKey(gid, file, key)
	f.RefuseKey(gid, [20]byte{3}, 7)
	f.TruncateKey(gid, [20]byte{4})
	f.SilenceKey(gid, [20]byte{5})

	if k, err := f.AudioKey(ctx, gid, file); k != key || err != nil {
		t.Fatalf("AudioKey = %x, %v", k, err)
	}
	var ref *apconn.KeyRefusedError
	if _, err := f.AudioKey(ctx, gid, [20]byte{3}); !errors.As(err, &ref) || ref.Code != 7 {
		t.Fatalf("refused: %v", err)
	}
	if _, err := f.AudioKey(ctx, gid, [20]byte{9}); !errors.As(err, &ref) || ref.Code != APUnknownKeyCode {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := f.AudioKey(ctx, gid, [20]byte{4}); !errors.Is(err, apconn.ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
	timedOut := make(chan error, 1)
	go func() { _, err := f.AudioKey(ctx, gid, [20]byte{5}); timedOut <- err }()
	fire <- time.Time{}
	if err := <-timedOut; !errors.Is(err, apconn.ErrKeyTimeout) || asked != 2*time.Second {
		t.Fatalf("silent: %v (timeout %v)", err, asked)
	}
	reqs := f.KeyRequests()
	if len(reqs) != 5 || reqs[0].GID != gid || reqs[0].FileID != file || reqs[4].FileID != [20]byte{5} {
		t.Fatalf("requests = %+v", reqs)
	}
	for i := 1; i < len(reqs); i++ {
		if reqs[i].Seq == reqs[i-1].Seq {
			t.Fatalf("sequence %d reused", reqs[i].Seq)
		}
	}

	// A request in flight when the connection is lost fails at once.
	lost := make(chan error, 1)
	go func() { _, err := f.AudioKey(ctx, gid, [20]byte{5}); lost <- err }()
	if _, err := f.WaitKeyRequests(ctx, 6); err != nil {
		t.Fatal(err)
	}
	f.Lose()
	if err := <-lost; !errors.Is(err, apconn.ErrConnLost) {
		t.Fatalf("in flight at loss: %v", err)
	}
	select {
	case <-f.Done():
	default:
		t.Fatal("Done not closed after Lose")
	}
	if _, err := f.AudioKey(ctx, gid, file); !errors.Is(err, apconn.ErrConnLost) {
		t.Fatalf("after loss: %v", err)
	}
	select {
	case <-f.Closed():
		t.Fatal("Closed before Close")
	default:
	}
	f.Close()
	<-f.Closed()
}

func TestAPFakeDialer(t *testing.T) {
	ctx := t.Context()
	d := NewAPFakeDialer(APFakeConfig{Username: "canonical"})
	gid, file := [16]byte{1}, [20]byte{2}
	d.AddKey(gid, file, [16]byte{3})
	login := creds.Credentials{Username: "Canonical", AuthType: creds.AuthSpotifyToken, AuthData: []byte("tok")}

	c, err := d.Dial(ctx, login)
	if err != nil || c.Username() != "canonical" {
		t.Fatalf("Dial = %v, %v", c, err)
	}
	if k, err := c.AudioKey(ctx, gid, file); k != [16]byte{3} || err != nil {
		t.Fatalf("key through the dialer's table: %x, %v", k, err)
	}
	if got, _ := d.WaitConn(ctx, 1); got != c {
		t.Fatal("WaitConn(1) is not the connection Dial returned")
	}

	netDown := errors.New("network unreachable")
	d.FailNext(1, netDown)
	if _, err := d.Dial(ctx, login); !errors.Is(err, netDown) {
		t.Fatalf("FailNext: %v", err)
	}
	var rej *apconn.RejectedError
	d.Reject("PremiumAccountRequired")
	if _, err := d.Dial(ctx, login); !errors.As(err, &rej) || rej.Reason != "PremiumAccountRequired" {
		t.Fatalf("Reject: %v", err)
	}
	d.Reject("")
	if _, err := d.Dial(ctx, creds.Credentials{Username: "x", AuthType: creds.AuthStoredSpotify}); !errors.As(err, &rej) {
		t.Fatalf("empty auth data: %v", err)
	}
	c2, err := d.Dial(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	// Keys survive a reconnect: the table is the dialer's.
	if k, err := c2.AudioKey(ctx, gid, file); k != [16]byte{3} || err != nil {
		t.Fatalf("key after reconnect: %x, %v", k, err)
	}
	if n := len(d.Logins()); n != 5 {
		t.Fatalf("%d logins recorded, want 5", n)
	}
	if len(d.KeyRequests()) != 2 || len(d.Conns()) != 2 {
		t.Fatalf("requests %d, conns %d", len(d.KeyRequests()), len(d.Conns()))
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.WaitConn(cctx, 3); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitConn(canceled): %v", err)
	}
	if _, err := d.Dial(cctx, login); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial(canceled): %v", err)
	}
}

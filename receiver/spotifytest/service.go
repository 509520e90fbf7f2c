package spotifytest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/internal/creds"
)

// ServiceCDNHosts are the CDN hosts a Service mounts, in the order its
// storage-resolve answers name them.
var ServiceCDNHosts = []string{"audio-cdn1.test", "audio-cdn2.test"}

// ServicePhoneID is the device id of the phone a Service's App plays.
const ServicePhoneID = "5e7a0000000000000000000000000000000000f0"

// Service is the whole of Spotify as a receiver sees it, assembled from
// the fake's parts: the TLS front (Fake) with apresolve, client token and
// login5, spclient (connect-state, context-resolve, metadata,
// storage-resolve), the dealer, the audio CDN on ServiceCDNHosts, and the
// access point through Dialer. A test (or a harness of its own) hands
// Fake.Client() and Dialer to the receiver and plays the app's part with
// App.
type Service struct {
	Fake     *Fake
	Spclient *SpclientServer
	Dealer   *DealerServer
	CDN      *CDNServer
	Dialer   *APFakeDialer
	App      *ServiceApp
}

// NewService starts a Service; tb.Cleanup stops it.
func NewService(tb testing.TB, ap APFakeConfig) *Service {
	tb.Helper()
	s := &Service{Fake: New(tb), Spclient: NewSpclientServer(), Dealer: NewDealerServer(), CDN: NewCDNServer(),
		Dialer: NewAPFakeDialer(ap)}
	s.Spclient.SetAuthorize(s.Fake.Login5().Valid)
	s.Fake.Handle("spclient.test", s.Spclient)
	s.Fake.Handle("dealer.test", s.Dealer)
	for _, h := range ServiceCDNHosts {
		s.Fake.Handle(h, s.CDN)
	}
	tb.Cleanup(s.Dealer.Close)
	s.App = &ServiceApp{d: s.Dealer, PhoneID: ServicePhoneID}
	return s
}

// StoredCredentials is a login the fake access point accepts, as a speaker
// has it stored after a phone's handover.
func StoredCredentials() creds.Credentials {
	return creds.Credentials{Username: DefaultUsername, AuthType: creds.AuthStoredSpotify,
		AuthData: []byte(DefaultStoredCredential)}
}

// ServiceApp plays the part of a phone's Spotify app on the dealer: it
// sends commands to the receiver and waits for its replies.
type ServiceApp struct {
	d       *DealerServer
	PhoneID string

	mu   sync.Mutex
	sent uint32
}

// Command sends a player command ({"endpoint": …, …}) as a dealer request
// and returns the receiver's reply (true: success).
func (a *ServiceApp) Command(ctx context.Context, cmd map[string]any) (bool, error) {
	a.mu.Lock()
	a.sent++
	n := a.sent
	a.mu.Unlock()
	payload, err := DealerCommandPayload(1000+n, a.PhoneID, cmd)
	if err != nil {
		return false, err
	}
	key := fmt.Sprintf("app-%d", n)
	if err := a.d.SendRequest(ctx, DealerRequest{Key: key, Payload: payload, Gzip: n%2 == 0}); err != nil {
		return false, fmt.Errorf("send %v: %w", cmd["endpoint"], err)
	}
	ok, err := a.d.WaitReply(ctx, key)
	if err != nil {
		return false, fmt.Errorf("reply to %v: %w", cmd["endpoint"], err)
	}
	return ok, nil
}

// Transfer hands the receiver playback of the context uri whose one page
// holds tracks, at track index from positionMs (timestamp ts, ms since the
// epoch, as the app's clock says).
func (a *ServiceApp) Transfer(ctx context.Context, uri string, tracks []string, index int, positionMs, ts int64) (bool, error) {
	if index < 0 || index >= len(tracks) {
		return false, fmt.Errorf("transfer: index %d outside %d tracks", index, len(tracks))
	}
	var ts2 []*connectpb.ContextTrack
	for i, t := range tracks {
		ts2 = append(ts2, &connectpb.ContextTrack{Uri: t, Uid: fmt.Sprintf("u%d", i)})
	}
	st := &connectpb.TransferState{
		Options: &connectpb.ContextPlayerOptions{},
		Playback: &connectpb.Playback{Timestamp: ts, PositionAsOfTimestamp: int32(positionMs),
			CurrentTrack: &connectpb.ContextTrack{Uri: tracks[index], Uid: fmt.Sprintf("u%d", index)}},
		CurrentSession: &connectpb.Session{
			Context:           &connectpb.Context{Uri: uri, Url: "context://" + uri, Pages: []*connectpb.ContextPage{{Tracks: ts2}}},
			PlayOrigin:        &connectpb.PlayOrigin{FeatureIdentifier: "album"},
			OriginalSessionId: proto.String("session-1"),
		},
	}
	b, err := proto.Marshal(st)
	if err != nil {
		return false, err
	}
	return a.Command(ctx, map[string]any{"endpoint": "transfer", "data": b})
}

package receiver

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"

	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// startPlaying brings the device to playing track 0 of a 5-track album
// and returns the transfer's timestamp.
func (e *devEnv) startPlaying() int64 {
	e.t.Helper()
	if _, err := e.ds.WaitConnection(e.ctx, 1); err != nil {
		e.t.Fatal(err)
	}
	e.waitPut("NEW_DEVICE", func(p spotifytest.ConnectStatePut) bool { return p.Reason == connectpb.PutStateReason_NEW_DEVICE })
	ts := e.clock.Now().UnixMilli()
	if !e.transfer(5, ts) {
		e.t.Fatal("transfer refused")
	}
	e.playingTrack(turi(0))
	return ts
}

// newDeviceOn waits for a NEW_DEVICE PUT on connection id that still shows
// the device playing track 0.
func (e *devEnv) newDeviceOn(id string) {
	e.t.Helper()
	p := e.waitPut("NEW_DEVICE on "+id, func(p spotifytest.ConnectStatePut) bool {
		return p.ConnectionID == id && p.Reason == connectpb.PutStateReason_NEW_DEVICE
	})
	ps := p.Request.GetDevice().GetPlayerState()
	if !p.Request.GetIsActive() || ps.GetTrack().GetUri() != turi(0) || ps.GetContextUri() != albumContext(1).Uri {
		e.t.Fatalf("state after reconnect: active %v, %v", p.Request.GetIsActive(), ps)
	}
}

func (e *devEnv) pauseWorks(from int) {
	e.t.Helper()
	if !e.command(map[string]any{"endpoint": "pause"}) {
		e.t.Fatal("pause refused")
	}
	if _, err := e.player.waitCall(e.ctx, from, "pause"); err != nil {
		e.t.Fatal(err)
	}
}

// 3. The dealer drops and refuses upgrades for a while, then once with
// 401: it reconnects (with a fresh login5 token after the 401), the device
// registers again with the same state, and the next command works. The
// music is not interrupted.
func TestDeviceDealerReconnects(t *testing.T) {
	e := newDevEnv(t)
	e.startPlaying()
	calls := len(e.player.Calls())

	tokens := len(e.ds.Tokens())
	e.ds.RefuseUpgrades(http.StatusServiceUnavailable, 3)
	e.must(e.ds.Drop())
	id2, err := e.ds.WaitConnection(e.ctx, 2)
	e.must(err)
	e.newDeviceOn(id2)
	if got := len(e.ds.Tokens()); got != tokens+4 {
		t.Fatalf("%d upgrade attempts after the drop, want 3 refused and 1 accepted", got-tokens)
	}

	logins := e.f.Login5().Stats().Logins
	e.ds.RefuseUpgrades(http.StatusUnauthorized, 1)
	e.must(e.ds.Drop())
	id3, err := e.ds.WaitConnection(e.ctx, 3)
	e.must(err)
	e.newDeviceOn(id3)
	all := e.ds.Tokens()
	if e.f.Login5().Stats().Logins != logins+1 || all[len(all)-1] == all[len(all)-2] {
		t.Fatalf("after a 401 upgrade: logins %d -> %d, tokens %q", logins, e.f.Login5().Stats().Logins, all[len(all)-2:])
	}
	e.pauseWorks(calls)
	for _, c := range e.player.Calls()[calls:] {
		if c == "stop" || strings.HasPrefix(c, "load ") {
			t.Fatalf("player interrupted by a dealer reconnect: %q", e.player.Calls()[calls:])
		}
	}
	if dials, _ := e.dialer.state(); dials != 1 {
		t.Fatalf("a dealer reconnect logged in to the access point again (%d logins)", dials)
	}
	if st := e.dev.Stats(); st.Reconnects[ReconnectDealer] != 2 || len(st.Reconnects) != 1 || len(st.LoginFailures) != 0 {
		t.Fatalf("stats after two dealer drops: %+v", st)
	}
}

// 4. The access point is lost and stays down for longer than 15 minutes
// (go-librespot gives up after 15): the supervisor keeps trying with
// backoff, rebuilds the chain, and the device comes back with its state.
func TestDeviceRebuildsAfterAccessPointLoss(t *testing.T) {
	const failures = 16
	e := newDevEnv(t)
	e.startPlaying()
	calls := len(e.player.Calls())
	start := e.clock.Offset()

	e.dialer.mu.Lock()
	e.dialer.fail = failures
	e.dialer.mu.Unlock()
	_, conns := e.dialer.state()
	conns[0].lose()

	id2, err := e.ds.WaitConnection(e.ctx, 2)
	e.must(err)
	e.newDeviceOn(id2)
	e.must(e.ds.WaitDisconnected(e.ctx, 1))
	if dials, _ := e.dialer.state(); dials != failures+2 {
		t.Fatalf("%d logins, want the first, %d failures and one that worked", dials, failures)
	}
	if down := e.clock.Offset() - start; down < 15*time.Minute {
		t.Fatalf("down for %v of backoff; the test must outlast 15 minutes", down)
	}
	if st := e.dev.Stats(); st.Reconnects[ReconnectAccessPoint] != 1 || st.LoginFailures[LoginFailedAccessPoint] != failures {
		t.Fatalf("stats: %+v, want 1 access point reconnect and %d failed logins", st, failures)
	}
	e.pauseWorks(calls)
}

// A login refused for bad credentials is not retried: the device waits
// for a phone, then logs in with what the phone hands over.
func TestDeviceRejectedLoginWaitsForPhone(t *testing.T) {
	rejected := make(chan creds.Credentials, 1)
	e := newDevEnv(t, func(c *DeviceConfig) {
		c.Dialer.(*devDialer).reject = true
		c.Rejected = func(used creds.Credentials) error { rejected <- used; return nil }
	})
	select {
	case <-rejected:
	case <-e.ctx.Done():
		t.Fatal("no rejection")
	}
	e.dialer.mu.Lock()
	e.dialer.reject = false
	dials := e.dialer.dials
	e.dialer.mu.Unlock()
	if dials != 1 {
		t.Fatalf("%d login attempts with refused credentials", dials)
	}
	if st := e.dev.Stats(); len(st.LoginFailures) != 1 || st.LoginFailures["BadCredentials"] != 1 {
		t.Fatalf("login failures %v, want one BadCredentials", st.LoginFailures)
	}
	phone := creds.Credentials{Username: "phone-user", AuthType: creds.AuthStoredSpotify, AuthData: []byte("blob")}
	e.must(e.dev.Login(e.ctx, phone))
	id, err := e.ds.WaitConnection(e.ctx, 1)
	e.must(err)
	e.waitPut("NEW_DEVICE", func(p spotifytest.ConnectStatePut) bool { return p.ConnectionID == id })
	e.dialer.mu.Lock()
	defer e.dialer.mu.Unlock()
	if e.dialer.dials != 2 || e.dialer.used[1].Username != "phone-user" {
		t.Fatalf("dials %d, used %v", e.dialer.dials, e.dialer.used)
	}
}

// spclientPuts returns the state PUTs the fake received (answered or not).
func (e *devEnv) spclientPuts() []spotifytest.Request {
	var out []spotifytest.Request
	for _, r := range e.f.Requests() {
		if r.Host == "spclient.test" && r.Method == http.MethodPut && r.Path == "/connect-state/v1/devices/"+devID {
			out = append(out, r)
		}
	}
	return out
}

func (e *devEnv) volume(v uint32) {
	e.t.Helper()
	e.message("hm://connect-state/v1/connect/volume", &connectpb.SetVolumeCommand{Volume: int32(v)})
}

func (e *devEnv) volumePut(v uint32) spotifytest.ConnectStatePut {
	e.t.Helper()
	return e.waitPut("volume", func(p spotifytest.ConnectStatePut) bool {
		return p.Request.GetDevice().GetDeviceInfo().GetVolume() == v
	})
}

// 5. Token trouble: a login5 token about to expire is refreshed before it
// is used; a 401 on a PUT forces one refresh and the same body goes out
// again; a 429 with Retry-After is followed by one coalesced PUT after it.
func TestDeviceTokenAndRateLimits(t *testing.T) {
	e := newDevEnvPre(t, func(e *devEnv) { e.f.Login5().SetTokenLifetime(15) })
	e.startPlaying()

	// 15 s tokens, 10 s margin: 6 s later the token must be renewed
	// before the next PUT uses it.
	logins := e.f.Login5().Stats().Logins
	e.clock.Advance(6 * time.Second)
	e.volume(1000)
	p := e.volumePut(1000)
	issued := e.f.Login5().Issued()
	if e.f.Login5().Stats().Logins != logins+1 || p.Header.Get("Authorization") != "Bearer "+issued[len(issued)-1] {
		t.Fatalf("logins %d -> %d; PUT with %q, newest token %q", logins, e.f.Login5().Stats().Logins,
			p.Header.Get("Authorization"), issued[len(issued)-1])
	}

	// A revoked token: 401, one forced login, the same body again.
	before := len(e.spclientPuts())
	logins = e.f.Login5().Stats().Logins
	e.f.Login5().RevokeAll()
	e.volume(2000)
	e.volumePut(2000)
	puts := e.spclientPuts()[before:]
	if len(puts) != 2 || e.f.Login5().Stats().Logins != logins+1 {
		t.Fatalf("%d PUTs and %d logins for one revoked token", len(puts), e.f.Login5().Stats().Logins-logins)
	}
	if len(puts[1].Body) == 0 || !bytes.Equal(puts[0].Body, puts[1].Body) || puts[0].Header.Get("Authorization") == puts[1].Header.Get("Authorization") {
		t.Fatalf("the resent PUT: %d bytes after %d, same token %v", len(puts[1].Body), len(puts[0].Body),
			puts[0].Header.Get("Authorization") == puts[1].Header.Get("Authorization"))
	}

	// 429 with Retry-After: 2 s: the state changes meanwhile are
	// coalesced into one PUT, no earlier than 2 s later.
	before = len(e.spclientPuts())
	knob := e.f.Knob("spclient.test", "/connect-state/v1/devices/"+devID)
	knob.SetRetryAfter("2")
	knob.SetStatus(http.StatusTooManyRequests, 1)
	for v := uint32(3000); v <= 3010; v++ {
		e.volume(v)
	}
	// A fence: once this reply is in, the loop has handed every volume
	// above to the publisher.
	if !e.command(map[string]any{"endpoint": "resume"}) {
		t.Fatal("resume refused")
	}
	atFence := len(e.spclientPuts()) - before
	p = e.volumePut(3010)
	puts = e.spclientPuts()[before:]
	if knob.Hits() != 1 || len(puts) < 2 {
		t.Fatalf("429 answered %d times, %d PUTs", knob.Hits(), len(puts))
	}
	// The 429 was counted before the PUT after it went out.
	if st := e.dev.Stats().Publish; st.RateLimited != 1 || st.Published < 3 {
		t.Fatalf("publish stats %+v, want one 429 and the PUTs before it", st)
	}
	if gap := puts[1].Time.Sub(puts[0].Time); gap < 2*time.Second {
		t.Fatalf("PUT %v after a 429 with Retry-After: 2", gap)
	}
	// While the cooldown lasted past the fence (it always should: the
	// fence takes milliseconds), exactly one PUT followed the 429.
	if atFence <= 1 && len(puts) != 2 {
		t.Fatalf("%d PUTs after the 429, want one coalesced", len(puts)-1)
	} else if atFence > 1 {
		t.Logf("the cooldown ended before the fence; %d PUTs", len(puts))
	}
	if p.Reason != connectpb.PutStateReason_VOLUME_CHANGED && p.Reason != connectpb.PutStateReason_PLAYER_STATE_CHANGED {
		t.Fatalf("reason %v", p.Reason)
	}
}

// 6. Another device takes over (a stale cluster update first, which is
// ignored), then the user logs out from an app.
func TestDeviceTakeoverAndLogout(t *testing.T) {
	e := newDevEnv(t)
	ts := e.startPlaying()
	calls := len(e.player.Calls())
	cluster := func(at int64) *connectpb.ClusterUpdate {
		return &connectpb.ClusterUpdate{UpdateReason: connectpb.ClusterUpdateReason_DEVICE_STATE_CHANGED,
			Cluster: &connectpb.Cluster{ActiveDeviceId: phoneID, PlayerState: &connectpb.PlayerState{Timestamp: at}}}
	}
	e.message("hm://connect-state/v1/cluster", cluster(ts-1000))
	e.pauseWorks(calls) // still ours
	if slices.Contains(e.player.Calls(), "stop") || len(e.sp.ConnectStateInactives()) != 0 {
		t.Fatal("a stale cluster update stopped the device")
	}

	idles := e.amp.Idles()
	e.message("hm://connect-state/v1/cluster", cluster(ts+60000))
	if _, err := e.player.waitCall(e.ctx, calls, "stop"); err != nil {
		t.Fatal(err)
	}
	in, err := e.sp.WaitConnectStateInactive(e.ctx, 1)
	e.must(err)
	if in.RawQuery != "notify=false" || e.amp.Idles() != idles+1 {
		t.Fatalf("inactive %+v, amp idles %d -> %d", in, idles, e.amp.Idles())
	}
	// Commands that need a session are refused now; the device stays
	// listed, inactive.
	if e.command(map[string]any{"endpoint": "pause"}) {
		t.Fatal("pause accepted after the takeover")
	}
	e.volume(1234)
	if p := e.volumePut(1234); p.Request.GetIsActive() {
		t.Fatal("active after the takeover")
	}

	// Logout from an app: leave, tell the owner, wait for a phone.
	e.message("hm://connect-state/v1/connect/logout", nil)
	select {
	case u := <-e.loggedOut:
		if u != spotifytest.DefaultUsername {
			t.Fatalf("logged out %q", u)
		}
	case <-e.ctx.Done():
		t.Fatal("no logout")
	}
	e.must(e.ds.WaitDisconnected(e.ctx, 1))
	if _, err := e.sp.WaitConnectStateInactive(e.ctx, 2); err != nil {
		t.Fatal(err)
	}
	stored := creds.Credentials{Username: "phone-user", AuthType: creds.AuthStoredSpotify, AuthData: []byte("blob")}
	e.must(e.dev.Login(e.ctx, stored))
	id, err := e.ds.WaitConnection(e.ctx, 2)
	e.must(err)
	e.waitPut("NEW_DEVICE", func(p spotifytest.ConnectStatePut) bool {
		return p.ConnectionID == id && p.Reason == connectpb.PutStateReason_NEW_DEVICE
	})
	if dials, _ := e.dialer.state(); dials != 2 {
		t.Fatalf("%d logins; the device must wait for the phone after a logout", dials)
	}
}

// 7. Broken input on the dealer: a message with two payloads, garbage
// frames, unknown requests and commands. Logged, answered where an answer
// is expected, no crash, and the device keeps working.
func TestDeviceSurvivesBadFrames(t *testing.T) {
	e := newDevEnv(t)
	e.startPlaying()
	calls := len(e.player.Calls())

	v1, _ := protoMarshal(&connectpb.SetVolumeCommand{Volume: 500})
	v2, _ := protoMarshal(&connectpb.SetVolumeCommand{Volume: 600})
	e.must(e.ds.SendMessage(e.ctx, spotifytest.DealerMessage{URI: "hm://connect-state/v1/connect/volume", Payloads: [][]byte{v1, v2}}))
	e.must(e.ds.SendMessage(e.ctx, spotifytest.DealerMessage{URI: "hm://connect-state/v1/cluster", Payload: []byte("not a protobuf ÿÿÿ")}))
	e.must(e.ds.SendMessage(e.ctx, spotifytest.DealerMessage{URI: "hm://playlist/v2/playlist/xyz", Payload: []byte("x")}))
	for _, raw := range []string{
		"not json",
		`{"type":"message","uri":"hm://connect-state/v1/cluster","payloads":["!!!"]}`,
		`{"type":"request","key":"raw-1","message_ident":"hm://connect-state/v1/player/command","payload":{"compressed":"bm90IGd6aXA="}}`,
		`{"type":"request","key":"raw-2","message_ident":"hm://connect-state/v1/player/command","payload":{}}`,
		`{"type":"whatever"}`,
	} {
		e.must(e.ds.SendRaw(e.ctx, []byte(raw)))
	}
	payload, err := spotifytest.DealerCommandPayload(1, phoneID, map[string]any{"endpoint": "pause"})
	e.must(err)
	e.must(e.ds.SendRequest(e.ctx, spotifytest.DealerRequest{Ident: "hm://something/else", Key: "k-ident", Payload: payload}))
	e.must(e.ds.SendRequest(e.ctx, spotifytest.DealerRequest{Key: "k-junk", Payload: []byte("{")}))
	for _, key := range []string{"k-ident", "k-junk", "raw-1", "raw-2"} {
		ok, err := e.ds.WaitReply(e.ctx, key)
		e.must(err)
		if ok {
			t.Fatalf("%s answered with success", key)
		}
	}
	if e.command(map[string]any{"endpoint": "no_such_command", "value": 1}) {
		t.Fatal("an unknown command accepted")
	}
	e.pauseWorks(calls)
	e.stop()
	if !strings.Contains(e.logs.String(), "refusing a dealer request of unknown kind") {
		t.Fatal("the unknown request was not logged")
	}
	for _, key := range []string{"k-ident", "k-junk", "raw-1", "raw-2"} {
		if r := e.ds.Replies(key); len(r) != 1 {
			t.Fatalf("%s: replies %v", key, r)
		}
	}
}

func protoMarshal(m proto.Message) ([]byte, error) { return proto.Marshal(m) }

package spotifytest_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"io"
	mbits "math/bits"
	"net/http"
	"testing"

	pbdata "github.com/devgianlu/go-librespot/proto/spotify/clienttoken/data/v0"
	pbhttp "github.com/devgianlu/go-librespot/proto/spotify/clienttoken/http/v0"
	pb "github.com/devgianlu/go-librespot/proto/spotify/login5/v3"
	challengespb "github.com/devgianlu/go-librespot/proto/spotify/login5/v3/challenges"
	credentialspb "github.com/devgianlu/go-librespot/proto/spotify/login5/v3/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/receiver/login5"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

func postProto(t *testing.T, c *http.Client, url string, hdr http.Header, in proto.Message, out proto.Message) int {
	t.Helper()
	b, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := proto.Unmarshal(body, out); err != nil {
			t.Fatalf("decode answer: %v", err)
		}
	}
	return resp.StatusCode
}

func clientTokenReq(deviceID string) *pbhttp.ClientTokenRequest {
	return &pbhttp.ClientTokenRequest{
		RequestType: pbhttp.ClientTokenRequestType_REQUEST_CLIENT_DATA_REQUEST,
		Request: &pbhttp.ClientTokenRequest_ClientData{ClientData: &pbhttp.ClientDataRequest{
			ClientVersion: "0.0.0", ClientId: "65b708073fc0480ea92a077233ca87bd",
			Data: &pbhttp.ClientDataRequest_ConnectivitySdkData{ConnectivitySdkData: &pbdata.ConnectivitySdkData{
				DeviceId: deviceID,
				PlatformSpecificData: &pbdata.PlatformSpecificData{Data: &pbdata.PlatformSpecificData_DesktopLinux{
					DesktopLinux: &pbdata.NativeDesktopLinuxData{}}},
			}},
		}},
	}
}

const ctURL = "https://clienttoken.spotify.com/v1/clienttoken"
const l5URL = "https://login5.spotify.com/v3/login"

func TestClientTokenServer(t *testing.T) {
	f := spotifytest.New(t)
	c := f.Client()
	f.ClientToken().SetLifetime(100, 40)
	var a, b pbhttp.ClientTokenResponse
	if code := postProto(t, c, ctURL, nil, clientTokenReq("dev"), &a); code != 200 {
		t.Fatalf("answer %d", code)
	}
	postProto(t, c, ctURL, nil, clientTokenReq("dev"), &b)
	ga, gb := a.GetGrantedToken(), b.GetGrantedToken()
	if a.GetResponseType() != pbhttp.ClientTokenResponseType_RESPONSE_GRANTED_TOKEN_RESPONSE ||
		ga.GetToken() == "" || ga.GetToken() == gb.GetToken() || ga.GetExpiresAfterSeconds() != 100 || ga.GetRefreshAfterSeconds() != 40 {
		t.Fatalf("answers %v / %v", &a, &b)
	}
	if !f.ClientToken().Valid(ga.GetToken()) || f.ClientToken().Valid("made-up") {
		t.Fatal("Valid wrong")
	}
	f.ClientToken().Revoke(ga.GetToken())
	if f.ClientToken().Valid(ga.GetToken()) {
		t.Fatal("Revoke had no effect")
	}

	// Malformed requests: 400 with a reason, nothing issued.
	before := len(f.ClientToken().Issued())
	bad := clientTokenReq("")
	if code := postProto(t, c, ctURL, nil, bad, nil); code != http.StatusBadRequest {
		t.Errorf("no device id: %d", code)
	}
	if code := postProto(t, c, ctURL, nil, &pbhttp.ClientTokenRequest{}, nil); code != http.StatusBadRequest {
		t.Errorf("empty request: %d", code)
	}
	resp, err := c.Post(ctURL, "application/x-protobuf", bytes.NewReader([]byte{0xff, 0xff}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || len(f.ClientToken().Issued()) != before {
		t.Errorf("garbage: %d, issued %d -> %d", resp.StatusCode, before, len(f.ClientToken().Issued()))
	}

	f.ClientToken().SetChallenge(1)
	var ch pbhttp.ClientTokenResponse
	postProto(t, c, ctURL, nil, clientTokenReq("dev"), &ch)
	if ch.GetResponseType() != pbhttp.ClientTokenResponseType_RESPONSE_CHALLENGES_RESPONSE || len(ch.GetChallenges().GetChallenges()) != 1 {
		t.Fatalf("challenge answer %v", &ch)
	}
	if n := len(f.ClientToken().Received()); n != 3 {
		t.Errorf("Received %d well-formed requests, want 3", n)
	}
}

// login5Env is a fake with one client token, for raw login5 requests.
func login5Env(t *testing.T) (*spotifytest.Fake, http.Header) {
	f := spotifytest.New(t)
	var ct pbhttp.ClientTokenResponse
	postProto(t, f.Client(), ctURL, nil, clientTokenReq("dev"), &ct)
	return f, http.Header{"Client-Token": {ct.GetGrantedToken().GetToken()}}
}

func loginReq(user, cred string) *pb.LoginRequest {
	return &pb.LoginRequest{
		ClientInfo: &pb.ClientInfo{ClientId: "65b708073fc0480ea92a077233ca87bd", DeviceId: "dev"},
		LoginMethod: &pb.LoginRequest_StoredCredential{StoredCredential: &credentialspb.StoredCredential{
			Username: user, Data: []byte(cred)}},
	}
}

func TestLogin5ServerOkAndChecks(t *testing.T) {
	f, hdr := login5Env(t)
	c := f.Client()
	f.Login5().SetTokenLifetime(42)
	var ok pb.LoginResponse
	if code := postProto(t, c, l5URL, hdr, loginReq("SpeakerBox-Test", spotifytest.DefaultStoredCredential), &ok); code != 200 {
		t.Fatalf("answer %d", code)
	}
	o := ok.GetOk()
	if o.GetUsername() != spotifytest.DefaultUsername || o.GetAccessToken() == "" || o.GetAccessTokenExpiresIn() != 42 || len(o.GetStoredCredential()) == 0 {
		t.Fatalf("ok %v", o)
	}
	// login5's own stored credential logs in too, and tokens differ.
	var again pb.LoginResponse
	postProto(t, c, l5URL, hdr, loginReq(spotifytest.DefaultUsername, string(o.GetStoredCredential())), &again)
	if again.GetOk().GetAccessToken() == "" || again.GetOk().GetAccessToken() == o.GetAccessToken() {
		t.Fatalf("second login %v", &again)
	}
	if st := f.Login5().Stats(); st.Logins != 2 {
		t.Fatalf("stats %+v", st)
	}

	var bad pb.LoginResponse
	postProto(t, c, l5URL, hdr, loginReq(spotifytest.DefaultUsername, "wrong"), &bad)
	if bad.GetError() != pb.LoginError_INVALID_CREDENTIALS {
		t.Errorf("wrong credential: %v", &bad)
	}
	postProto(t, c, l5URL, hdr, loginReq("nobody", "x"), &bad)
	if bad.GetError() != pb.LoginError_INVALID_CREDENTIALS {
		t.Errorf("unknown user: %v", &bad)
	}
	if code := postProto(t, c, l5URL, http.Header{"Client-Token": {"made-up"}}, loginReq(spotifytest.DefaultUsername, spotifytest.DefaultStoredCredential), nil); code != http.StatusUnauthorized {
		t.Errorf("unknown client token: %d", code)
	}
	noInfo := loginReq(spotifytest.DefaultUsername, spotifytest.DefaultStoredCredential)
	noInfo.ClientInfo = nil
	if code := postProto(t, c, l5URL, hdr, noInfo, nil); code != http.StatusBadRequest {
		t.Errorf("no client_info: %d", code)
	}

	f.Login5().SetError(pb.LoginError_TIMEOUT, 2)
	for i := range 3 {
		var r pb.LoginResponse
		postProto(t, c, l5URL, hdr, loginReq(spotifytest.DefaultUsername, spotifytest.DefaultStoredCredential), &r)
		if want := i < 2; (r.GetError() == pb.LoginError_TIMEOUT) != want || (r.GetOk() != nil) == want {
			t.Errorf("request %d with SetError(TIMEOUT, 2): %v", i, &r)
		}
	}
	f.Login5().RevokeAll()
	if f.Login5().Valid(o.GetAccessToken()) {
		t.Error("RevokeAll left a token valid")
	}
}

// The fake really verifies hashcash: a correct solution passes, a wrong
// one (or one not derived from the login context, or a replayed context)
// is refused.
func TestLogin5ServerVerifiesHashcash(t *testing.T) {
	f, hdr := login5Env(t)
	c := f.Client()
	challenge := func(bits int) (*pb.LoginResponse, *challengespb.HashcashChallenge) {
		t.Helper()
		f.Login5().SetHashcash(bits, 1)
		var r pb.LoginResponse
		postProto(t, c, l5URL, hdr, loginReq(spotifytest.DefaultUsername, spotifytest.DefaultStoredCredential), &r)
		hc := r.GetChallenges().GetChallenges()[0].GetHashcash()
		if len(r.GetLoginContext()) == 0 || hc.GetLength() != int32(bits) || len(hc.GetPrefix()) == 0 {
			t.Fatalf("challenge %v", &r)
		}
		return &r, hc
	}
	answer := func(lc []byte, suffix []byte) *pb.LoginResponse {
		t.Helper()
		req := loginReq(spotifytest.DefaultUsername, spotifytest.DefaultStoredCredential)
		req.LoginContext = lc
		req.ChallengeSolutions = &pb.ChallengeSolutions{Solutions: []*pb.ChallengeSolution{{
			Solution: &pb.ChallengeSolution_Hashcash{Hashcash: &challengespb.HashcashSolution{Suffix: suffix}}}}}
		var r pb.LoginResponse
		postProto(t, c, l5URL, hdr, req, &r)
		return &r
	}

	r, hc := challenge(14)
	suffix, err := login5.SolveHashcash(context.Background(), r.GetLoginContext(), hc.GetPrefix(), 14)
	if err != nil {
		t.Fatal(err)
	}
	if got := answer(r.GetLoginContext(), suffix); got.GetOk() == nil {
		t.Fatalf("correct solution refused: %v", got)
	}
	// The same context again: single use.
	if got := answer(r.GetLoginContext(), suffix); got.GetError() != pb.LoginError_BAD_REQUEST {
		t.Fatalf("replayed context: %v", got)
	}

	// A suffix derived from the context the right way, but with fewer than
	// 14 zero bits: the first candidate whose hash falls short.
	r, hc = challenge(14)
	weak := weakSuffix(r.GetLoginContext(), hc.GetPrefix(), 14)
	if got := answer(r.GetLoginContext(), weak); got.GetError() != pb.LoginError_BAD_REQUEST {
		t.Fatalf("weak solution accepted: %v", got)
	}

	// A valid hash, but the suffix not derived from this login context.
	r1, hc1 := challenge(4)
	other, _ := login5.SolveHashcash(context.Background(), []byte("another context"), hc1.GetPrefix(), 4)
	if got := answer(r1.GetLoginContext(), other); got.GetError() != pb.LoginError_BAD_REQUEST {
		t.Fatalf("suffix from another context accepted: %v", got)
	}
	if st := f.Login5().Stats(); st.SolutionsAccepted != 1 || st.SolutionsRejected != 3 || st.Challenges != 3 {
		t.Errorf("stats %+v", st)
	}
}

// weakSuffix returns the first suffix in the solver's sequence for
// loginContext whose hash ends in fewer than bits zero bits.
func weakSuffix(loginContext, prefix []byte, bits int) []byte {
	sum := sha1.Sum(loginContext)
	hi := binary.BigEndian.Uint64(sum[12:20])
	for k := uint64(0); ; k++ {
		suffix := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, hi+k), k)
		h := sha1.Sum(append(append([]byte(nil), prefix...), suffix...))
		zeros := 0
		for i := len(h) - 1; i >= 0 && h[i] == 0; i-- {
			zeros += 8
		}
		if i := len(h) - 1 - zeros/8; i >= 0 {
			zeros += mbits.TrailingZeros8(h[i])
		}
		if zeros < bits {
			return suffix
		}
	}
}

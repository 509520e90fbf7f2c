package clienttoken

import (
	"testing"

	pbhttp "github.com/devgianlu/go-librespot/proto/spotify/clienttoken/http/v0"
	"google.golang.org/protobuf/proto"
)

func FuzzClientTokenResponse(f *testing.F) {
	for _, m := range []*pbhttp.ClientTokenResponse{
		{ResponseType: pbhttp.ClientTokenResponseType_RESPONSE_GRANTED_TOKEN_RESPONSE,
			Response: &pbhttp.ClientTokenResponse_GrantedToken{GrantedToken: &pbhttp.GrantedTokenResponse{
				Token: "tok", ExpiresAfterSeconds: 100, RefreshAfterSeconds: 50}}},
		{ResponseType: pbhttp.ClientTokenResponseType_RESPONSE_CHALLENGES_RESPONSE,
			Response: &pbhttp.ClientTokenResponse_Challenges{Challenges: &pbhttp.ChallengesResponse{
				State: "s", Challenges: []*pbhttp.Challenge{{Type: pbhttp.ChallengeType_CHALLENGE_HASH_CASH}}}}},
		{ResponseType: pbhttp.ClientTokenResponseType_RESPONSE_GRANTED_TOKEN_RESPONSE},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte("<html>gateway</html>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseResponse(b)
		if err == nil && g.GetToken() == "" {
			t.Fatalf("accepted a response without a token: %x", b)
		}
		if err != nil && g != nil {
			t.Fatalf("both a token and an error")
		}
	})
}

package login5

import (
	"context"
	"testing"

	pb "github.com/devgianlu/go-librespot/proto/spotify/login5/v3"
	challengespb "github.com/devgianlu/go-librespot/proto/spotify/login5/v3/challenges"
	"google.golang.org/protobuf/proto"
)

func FuzzLogin5Response(f *testing.F) {
	for _, m := range []*pb.LoginResponse{
		{Response: &pb.LoginResponse_Ok{Ok: &pb.LoginOk{Username: "u", AccessToken: "t", StoredCredential: []byte("c"), AccessTokenExpiresIn: 3600}}},
		{Response: &pb.LoginResponse_Error{Error: pb.LoginError_TIMEOUT}},
		{LoginContext: []byte("ctx"), Response: &pb.LoginResponse_Challenges{Challenges: &pb.Challenges{Challenges: []*pb.Challenge{
			{Challenge: &pb.Challenge_Hashcash{Hashcash: &challengespb.HashcashChallenge{Prefix: []byte("p"), Length: 4}}}}}}},
		{LoginContext: []byte("ctx"), Response: &pb.LoginResponse_Challenges{Challenges: &pb.Challenges{Challenges: []*pb.Challenge{
			{Challenge: &pb.Challenge_Code{Code: &challengespb.CodeChallenge{Method: challengespb.CodeChallenge_SMS}}}, {}}}}},
		{Response: &pb.LoginResponse_Challenges{Challenges: &pb.Challenges{}}},
		{},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("<html>502</html>"))
	// Solving runs with a cancelled context so a long challenge ends after
	// one batch of hashes instead of stalling the fuzzer.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseResponse(b)
		if err != nil {
			return
		}
		switch {
		case r.GetOk() != nil:
			if r.GetOk().GetAccessToken() == "" {
				t.Fatal("accepted ok without a token")
			}
		case r.GetChallenges() != nil:
			sols, err := solve(ctx, r)
			if err == nil && len(sols.GetSolutions()) != len(r.GetChallenges().GetChallenges()) {
				t.Fatal("not every challenge answered")
			}
		}
	})
}

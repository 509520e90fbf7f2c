package spotifytest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sync"

	pbhttp "github.com/devgianlu/go-librespot/proto/spotify/clienttoken/http/v0"
	"google.golang.org/protobuf/proto"
)

// Default lifetimes of a granted client token, in seconds (Spotify's are
// of this order: two weeks, refresh after about half).
const (
	DefaultClientTokenExpires = 1209600
	DefaultClientTokenRefresh = 604800
)

// ClientTokenServer answers POST /v1/clienttoken: a ClientTokenRequest of
// type REQUEST_CLIENT_DATA_REQUEST gets a granted token, a fresh one for
// every request.
type ClientTokenServer struct {
	mu        sync.Mutex
	expires   int32
	refresh   int32
	challenge int // next requests answered with a challenge; <0 forever
	issued    []string
	valid     map[string]bool
	requests  []*pbhttp.ClientTokenRequest
}

func newClientTokenServer() *ClientTokenServer {
	return &ClientTokenServer{
		expires: DefaultClientTokenExpires,
		refresh: DefaultClientTokenRefresh,
		valid:   map[string]bool{},
	}
}

// SetLifetime sets expires_after_seconds and refresh_after_seconds of the
// tokens granted from now on.
func (s *ClientTokenServer) SetLifetime(expiresSeconds, refreshSeconds int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expires, s.refresh = expiresSeconds, refreshSeconds
}

// SetChallenge answers the next n requests (n<0: all) with a
// RESPONSE_CHALLENGES_RESPONSE (a hashcash challenge) instead of a token.
func (s *ClientTokenServer) SetChallenge(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.challenge = n
}

// Issued returns the tokens granted so far, oldest first.
func (s *ClientTokenServer) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// Valid reports whether token was granted by this server and not revoked.
func (s *ClientTokenServer) Valid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.valid[token]
}

// Revoke makes token invalid for Valid (and so for login5's check).
func (s *ClientTokenServer) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.valid, token)
}

// Received returns the decoded well-formed requests, oldest first.
func (s *ClientTokenServer) Received() []*pbhttp.ClientTokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*pbhttp.ClientTokenRequest(nil), s.requests...)
}

func (s *ClientTokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/clienttoken" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "clienttoken: only POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "clienttoken: read body", http.StatusBadRequest)
		return
	}
	var req pbhttp.ClientTokenRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		clientTokenBad(w, fmt.Sprintf("body is not a ClientTokenRequest: %v", err))
		return
	}
	if msg := clientTokenCheck(&req); msg != "" {
		clientTokenBad(w, msg)
		return
	}

	s.mu.Lock()
	s.requests = append(s.requests, &req)
	var resp *pbhttp.ClientTokenResponse
	if s.challenge != 0 {
		if s.challenge > 0 {
			s.challenge--
		}
		resp = &pbhttp.ClientTokenResponse{
			ResponseType: pbhttp.ClientTokenResponseType_RESPONSE_CHALLENGES_RESPONSE,
			Response: &pbhttp.ClientTokenResponse_Challenges{Challenges: &pbhttp.ChallengesResponse{
				State: fakeRandomHex(8),
				Challenges: []*pbhttp.Challenge{{
					Type: pbhttp.ChallengeType_CHALLENGE_HASH_CASH,
					Parameters: &pbhttp.Challenge_EvaluateHashcashParameters{
						EvaluateHashcashParameters: &pbhttp.HashCashParameters{Length: 10, Prefix: fakeRandomHex(8)},
					},
				}},
			}},
		}
	} else {
		tok := fmt.Sprintf("ctok-%d-%s", len(s.issued)+1, fakeRandomHex(8))
		s.issued = append(s.issued, tok)
		s.valid[tok] = true
		resp = &pbhttp.ClientTokenResponse{
			ResponseType: pbhttp.ClientTokenResponseType_RESPONSE_GRANTED_TOKEN_RESPONSE,
			Response: &pbhttp.ClientTokenResponse_GrantedToken{GrantedToken: &pbhttp.GrantedTokenResponse{
				Token:               tok,
				ExpiresAfterSeconds: s.expires,
				RefreshAfterSeconds: s.refresh,
				Domains:             []*pbhttp.TokenDomain{{Domain: "spotify.com"}, {Domain: "spotify.net"}},
			}},
		}
	}
	s.mu.Unlock()
	fakeWriteProto(w, resp)
}

// clientTokenCheck says what is wrong with a request, or "" if nothing.
func clientTokenCheck(req *pbhttp.ClientTokenRequest) string {
	if req.GetRequestType() != pbhttp.ClientTokenRequestType_REQUEST_CLIENT_DATA_REQUEST {
		return fmt.Sprintf("request_type %v, want REQUEST_CLIENT_DATA_REQUEST", req.GetRequestType())
	}
	cd := req.GetClientData()
	switch {
	case cd == nil:
		return "no client_data"
	case cd.GetClientId() == "":
		return "empty client_data.client_id"
	case cd.GetClientVersion() == "":
		return "empty client_data.client_version"
	case cd.GetConnectivitySdkData().GetDeviceId() == "":
		return "empty connectivity_sdk_data.device_id"
	case cd.GetConnectivitySdkData().GetPlatformSpecificData() == nil:
		return "no connectivity_sdk_data.platform_specific_data"
	}
	return ""
}

func clientTokenBad(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusBadRequest)
	b, _ := proto.Marshal(&pbhttp.ClientTokenBadRequest{Message: msg})
	_, _ = w.Write(b)
}

func fakeWriteProto(w http.ResponseWriter, m proto.Message) {
	b, err := proto.Marshal(m)
	if err != nil {
		http.Error(w, fmt.Sprintf("spotifytest: marshal response: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

func fakeRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

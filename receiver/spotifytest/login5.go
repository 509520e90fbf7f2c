package spotifytest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"net/http"
	"strings"
	"sync"

	pb "github.com/devgianlu/go-librespot/proto/spotify/login5/v3"
	challengespb "github.com/devgianlu/go-librespot/proto/spotify/login5/v3/challenges"
	"google.golang.org/protobuf/proto"
)

// The user New registers with login5, for tests that need one login that
// works.
const (
	DefaultUsername         = "speakerbox-test"
	DefaultStoredCredential = "ap-reusable-credentials"
)

// DefaultTokenLifetime is access_token_expires_in of login5 tokens, in
// seconds, until SetTokenLifetime changes it.
const DefaultTokenLifetime = 3600

// Login5Server answers POST /v3/login. A LoginRequest with a
// stored_credential of a registered user gets LoginOk with a fresh access
// token and a fresh stored credential (both distinct per login, so tests
// see refreshes); knobs add hashcash challenges, which it verifies, and
// login errors.
type Login5Server struct {
	clientTokens *ClientTokenServer

	mu               sync.Mutex
	users            map[string]*login5User // by lower-case name
	lifetime         int32
	hashcashBits     int
	hashcashN        int
	errCode          pb.LoginError
	errN             int
	checkClientToken bool
	pending          map[string]login5Pending // by login_context
	stats            Login5Stats
	issued           []string
	valid            map[string]bool
	received         []*pb.LoginRequest
}

type login5User struct {
	canonical string
	creds     map[string]bool // stored credential -> issued by login5 (not AddUser)
}

type login5Pending struct {
	prefix []byte
	length int
}

// Login5Stats counts what the login5 server saw.
type Login5Stats struct {
	Requests          int // well-formed LoginRequests
	Logins            int // answered with LoginOk
	Challenges        int // answered with a hashcash challenge
	SolutionsAccepted int
	SolutionsRejected int
	Errors            int // answered with a LoginError
}

func newLogin5Server(ct *ClientTokenServer) *Login5Server {
	s := &Login5Server{
		clientTokens:     ct,
		users:            map[string]*login5User{},
		lifetime:         DefaultTokenLifetime,
		checkClientToken: true,
		pending:          map[string]login5Pending{},
		valid:            map[string]bool{},
	}
	s.AddUser(DefaultUsername, []byte(DefaultStoredCredential))
	return s
}

// AddUser registers a user under its canonical name with one stored
// credential that logs it in. The login name is matched without regard to
// case; LoginOk carries the canonical name.
func (s *Login5Server) AddUser(canonical string, storedCredential []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(canonical)
	u := s.users[key]
	if u == nil {
		u = &login5User{canonical: canonical, creds: map[string]bool{}}
		s.users[key] = u
	}
	u.creds[string(storedCredential)] = false
}

// RetireStoredCredentials makes every stored credential that login5 itself
// handed out (LoginOk.stored_credential) stop working; those given to
// AddUser still work.
func (s *Login5Server) RetireStoredCredentials() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		for c, own := range u.creds {
			if own {
				delete(u.creds, c)
			}
		}
	}
}

// SetTokenLifetime sets access_token_expires_in (seconds) of later logins.
func (s *Login5Server) SetTokenLifetime(seconds int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = seconds
}

// SetHashcash makes the next n login attempts (n<0: all) that carry no
// solution answer with a hashcash challenge of the given length in bits.
// The resent request must carry the login_context and a suffix for which
// SHA-1(prefix ‖ suffix) ends in that many zero bits.
func (s *Login5Server) SetHashcash(bits, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hashcashBits, s.hashcashN = bits, n
}

// SetError answers the next n requests (n<0: all) with LoginError code,
// before anything else is looked at.
func (s *Login5Server) SetError(code pb.LoginError, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errCode, s.errN = code, n
}

// SetCheckClientToken turns the check of the Client-Token header against
// the fake's client token server on (the default) or off.
func (s *Login5Server) SetCheckClientToken(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkClientToken = on
}

// Stats returns the counters so far.
func (s *Login5Server) Stats() Login5Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Issued returns the access tokens granted so far, oldest first.
func (s *Login5Server) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// Valid reports whether token is an access token this server granted and
// nobody revoked. It does not look at expiry: the fake has no clock.
func (s *Login5Server) Valid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.valid[token]
}

// Revoke makes one access token invalid for Valid.
func (s *Login5Server) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.valid, token)
}

// RevokeAll makes every access token granted so far invalid for Valid.
func (s *Login5Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.valid)
}

// Received returns the decoded well-formed requests, oldest first.
func (s *Login5Server) Received() []*pb.LoginRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*pb.LoginRequest(nil), s.received...)
}

func (s *Login5Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v3/login" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "login5: only POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "login5: read body", http.StatusBadRequest)
		return
	}
	var req pb.LoginRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, fmt.Sprintf("login5: body is not a LoginRequest: %v", err), http.StatusBadRequest)
		return
	}
	if req.GetClientInfo().GetClientId() == "" || req.GetClientInfo().GetDeviceId() == "" {
		http.Error(w, "login5: client_info needs client_id and device_id", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	check := s.checkClientToken
	s.mu.Unlock()
	if check && !s.clientTokens.Valid(r.Header.Get("Client-Token")) {
		http.Error(w, "login5: unknown Client-Token", http.StatusUnauthorized)
		return
	}
	fakeWriteProto(w, s.answer(&req))
}

// answer decides the response to a well-formed request.
func (s *Login5Server) answer(req *pb.LoginRequest) *pb.LoginResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, req)
	s.stats.Requests++

	if s.errN != 0 {
		if s.errN > 0 {
			s.errN--
		}
		return s.errorLocked(s.errCode)
	}

	if lc := req.GetLoginContext(); len(lc) > 0 {
		p, ok := s.pending[string(lc)]
		delete(s.pending, string(lc))
		if !ok || !login5SolutionValid(lc, p, req.GetChallengeSolutions()) {
			s.stats.SolutionsRejected++
			return s.errorLocked(pb.LoginError_BAD_REQUEST)
		}
		s.stats.SolutionsAccepted++
	} else if s.hashcashN != 0 {
		if s.hashcashN > 0 {
			s.hashcashN--
		}
		lc := make([]byte, 16)
		prefix := make([]byte, 16)
		_, _ = rand.Read(lc)
		_, _ = rand.Read(prefix)
		s.pending[string(lc)] = login5Pending{prefix: prefix, length: s.hashcashBits}
		s.stats.Challenges++
		return &pb.LoginResponse{
			LoginContext: lc,
			Response: &pb.LoginResponse_Challenges{Challenges: &pb.Challenges{Challenges: []*pb.Challenge{{
				Challenge: &pb.Challenge_Hashcash{Hashcash: &challengespb.HashcashChallenge{
					Prefix: prefix,
					Length: int32(s.hashcashBits),
				}},
			}}}},
		}
	}

	sc := req.GetStoredCredential()
	if sc == nil {
		return s.errorLocked(pb.LoginError_UNSUPPORTED_LOGIN_PROTOCOL)
	}
	u := s.users[strings.ToLower(sc.GetUsername())]
	if u == nil {
		return s.errorLocked(pb.LoginError_INVALID_CREDENTIALS)
	}
	if _, known := u.creds[string(sc.GetData())]; !known {
		return s.errorLocked(pb.LoginError_INVALID_CREDENTIALS)
	}
	n := len(s.issued) + 1
	tok := fmt.Sprintf("l5tok-%d-%s", n, fakeRandomHex(8))
	cred := fmt.Sprintf("l5cred-%d-%s", n, fakeRandomHex(8))
	s.issued = append(s.issued, tok)
	s.valid[tok] = true
	u.creds[cred] = true
	s.stats.Logins++
	return &pb.LoginResponse{Response: &pb.LoginResponse_Ok{Ok: &pb.LoginOk{
		Username:             u.canonical,
		AccessToken:          tok,
		StoredCredential:     []byte(cred),
		AccessTokenExpiresIn: s.lifetime,
	}}}
}

func (s *Login5Server) errorLocked(code pb.LoginError) *pb.LoginResponse {
	s.stats.Errors++
	return &pb.LoginResponse{Response: &pb.LoginResponse_Error{Error: code}}
}

// login5SolutionValid checks one hashcash solution the way we read the
// protocol: the suffix is 16 bytes, SHA-1(prefix ‖ suffix) ends in length
// zero bits, and the suffix was derived from the login context: its first
// half started as the last 8 bytes of SHA-1(login_context) and both halves
// were counted up together, so first − second equals that start (mod 2^64).
func login5SolutionValid(loginContext []byte, p login5Pending, sols *pb.ChallengeSolutions) bool {
	if len(sols.GetSolutions()) != 1 {
		return false
	}
	suffix := sols.GetSolutions()[0].GetHashcash().GetSuffix()
	if len(suffix) != 16 {
		return false
	}
	ctxSum := sha1.Sum(loginContext)
	start := binary.BigEndian.Uint64(ctxSum[12:20])
	if binary.BigEndian.Uint64(suffix[:8])-binary.BigEndian.Uint64(suffix[8:]) != start {
		return false
	}
	sum := sha1.Sum(bytes.Join([][]byte{p.prefix, suffix}, nil))
	return login5TrailingZeroBits(sum[:]) >= p.length
}

// login5TrailingZeroBits counts the zero bits at the end of b, reading it
// as one big-endian number.
func login5TrailingZeroBits(b []byte) int {
	n := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0 {
			return n + bits.TrailingZeros8(b[i])
		}
		n += 8
	}
	return n
}

package spotifytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
)

// Paths of the device authorization grant (RFC 8628) on accounts.spotify.com.
const (
	AccountsDevicePath = "/oauth2/device/authorize"
	AccountsTokenPath  = "/api/token"
)

// Defaults of an AccountsServer.
const (
	AccountsDefaultDeviceCode = "fake-device-code-0123456789"
	AccountsDefaultUserCode   = "BCDFGHJK"
	AccountsDefaultVerifyURI  = "https://www.spotify.com/pair"
	AccountsDefaultToken      = "fake-oauth-access-token"
	AccountsDefaultInterval   = 5   // seconds between polls
	AccountsDefaultExpiresIn  = 900 // seconds the code stays valid
	accountsDeviceGrant       = "urn:ietf:params:oauth:grant-type:device_code"
)

// AccountsAnswer is what the fake answers one token poll.
type AccountsAnswer int

// The answers a token poll can get. Once the script is used up, every poll
// gets AccountsPending.
const (
	AccountsPending  AccountsAnswer = iota // 400 authorization_pending
	AccountsSlowDown                       // 400 slow_down
	AccountsDenied                         // 400 access_denied (the owner declined)
	AccountsExpired                        // 400 expired_token
	AccountsApprove                        // 200 with the access token
	AccountsDrop                           // the connection closes without an answer
	AccountsBroken                         // 500 with an HTML page, as a failing proxy sends
)

// AccountsServer fakes the two endpoints of Spotify's device authorization
// grant: the device authorization request and the token endpoint the device
// polls. Mount it on "accounts.spotify.com". Safe for concurrent use.
type AccountsServer struct {
	mu         sync.Mutex
	deviceCode string
	userCode   string
	verifyURI  string
	complete   bool // answer with verification_uri_complete
	token      string
	interval   int
	expiresIn  int
	script     []AccountsAnswer
	device     []url.Values // device authorization requests, in order
	polls      []url.Values // token polls, in order
}

// NewAccountsServer returns a fake with the defaults above: every poll is
// pending until Script says otherwise.
func NewAccountsServer() *AccountsServer {
	return &AccountsServer{
		deviceCode: AccountsDefaultDeviceCode,
		userCode:   AccountsDefaultUserCode,
		verifyURI:  AccountsDefaultVerifyURI,
		complete:   true,
		token:      AccountsDefaultToken,
		interval:   AccountsDefaultInterval,
		expiresIn:  AccountsDefaultExpiresIn,
	}
}

// SetTiming sets the interval and expires_in (seconds) the device
// authorization answers with; 0 leaves a field out of the answer.
func (s *AccountsServer) SetTiming(interval, expiresIn int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interval, s.expiresIn = interval, expiresIn
}

// SetComplete chooses whether the answer carries verification_uri_complete.
func (s *AccountsServer) SetComplete(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.complete = on
}

// Script appends answers for the next token polls, in order.
func (s *AccountsServer) Script(answers ...AccountsAnswer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, answers...)
}

// DeviceRequests returns the forms of the device authorization requests.
func (s *AccountsServer) DeviceRequests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.device)
}

// Polls returns the forms of the token polls received, in order.
func (s *AccountsServer) Polls() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.polls)
}

// VerificationURIComplete is the address with the code in it that the fake
// hands out.
func (s *AccountsServer) VerificationURIComplete() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.verifyURI + "?code=" + url.QueryEscape(s.userCode)
}

// ServeHTTP implements http.Handler.
func (s *AccountsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		accountsError(w, http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	if err := r.ParseForm(); err != nil {
		accountsError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	form := r.PostForm
	switch r.URL.Path {
	case AccountsDevicePath:
		s.serveDevice(w, form)
	case AccountsTokenPath:
		s.serveToken(w, form)
	default:
		http.NotFound(w, r)
	}
}

func (s *AccountsServer) serveDevice(w http.ResponseWriter, form url.Values) {
	s.mu.Lock()
	s.device = append(s.device, form)
	ans := map[string]any{
		"device_code":      s.deviceCode,
		"user_code":        s.userCode,
		"verification_uri": s.verifyURI,
	}
	if s.complete {
		ans["verification_uri_complete"] = s.verifyURI + "?code=" + url.QueryEscape(s.userCode)
	}
	if s.interval != 0 {
		ans["interval"] = s.interval
	}
	if s.expiresIn != 0 {
		ans["expires_in"] = s.expiresIn
	}
	s.mu.Unlock()
	if form.Get("client_id") == "" {
		accountsError(w, http.StatusBadRequest, "invalid_client", "client_id missing")
		return
	}
	accountsJSON(w, http.StatusOK, ans)
}

func (s *AccountsServer) serveToken(w http.ResponseWriter, form url.Values) {
	s.mu.Lock()
	s.polls = append(s.polls, form)
	code, token := s.deviceCode, s.token
	s.mu.Unlock()
	switch {
	case form.Get("grant_type") != accountsDeviceGrant:
		accountsError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type "+form.Get("grant_type"))
		return
	case form.Get("client_id") == "":
		accountsError(w, http.StatusBadRequest, "invalid_client", "client_id missing")
		return
	case form.Get("device_code") != code:
		accountsError(w, http.StatusBadRequest, "invalid_grant", "unknown device_code")
		return
	}
	// Only a well-formed poll uses up a scripted answer.
	s.mu.Lock()
	next := AccountsPending
	if len(s.script) > 0 {
		next, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()
	switch next {
	case AccountsPending:
		accountsError(w, http.StatusBadRequest, "authorization_pending", "")
	case AccountsSlowDown:
		accountsError(w, http.StatusBadRequest, "slow_down", "")
	case AccountsDenied:
		accountsError(w, http.StatusBadRequest, "access_denied", "user denied the request")
	case AccountsExpired:
		accountsError(w, http.StatusBadRequest, "expired_token", "the device code expired")
	case AccountsApprove:
		accountsJSON(w, http.StatusOK, map[string]any{
			"access_token": token, "token_type": "Bearer", "expires_in": 3600,
			"refresh_token": "fake-refresh-token", "scope": form.Get("scope"),
		})
	case AccountsDrop:
		knobDrop(w)
	case AccountsBroken:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "<html><body>502 upstream</body></html>")
	}
}

func accountsError(w http.ResponseWriter, status int, code, desc string) {
	ans := map[string]string{"error": code}
	if desc != "" {
		ans["error_description"] = desc
	}
	accountsJSON(w, status, ans)
}

func accountsJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

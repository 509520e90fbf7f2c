package spotifytest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func accountsPost(t *testing.T, h http.Handler, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "https://accounts.spotify.com"+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m
}

func TestAccountsServerScriptAndChecks(t *testing.T) {
	s := NewAccountsServer()
	code, dev := accountsPost(t, s, AccountsDevicePath, url.Values{"client_id": {"c"}, "scope": {"streaming"}})
	if code != 200 || dev["device_code"] != AccountsDefaultDeviceCode || dev["user_code"] != AccountsDefaultUserCode ||
		dev["verification_uri_complete"] != s.VerificationURIComplete() || dev["interval"] != float64(5) || dev["expires_in"] != float64(900) {
		t.Fatalf("device answer %d %v", code, dev)
	}
	poll := url.Values{"client_id": {"c"}, "grant_type": {accountsDeviceGrant}, "device_code": {AccountsDefaultDeviceCode}}
	s.Script(AccountsSlowDown, AccountsApprove)
	for _, want := range []string{"slow_down", "", "authorization_pending"} {
		code, ans := accountsPost(t, s, AccountsTokenPath, poll)
		switch {
		case want == "" && (code != 200 || ans["access_token"] != AccountsDefaultToken):
			t.Fatalf("approval: %d %v", code, ans)
		case want != "" && (code != 400 || ans["error"] != want):
			t.Fatalf("want %s: %d %v", want, code, ans)
		}
	}
	// A poll with the wrong grant or device code is refused, whatever the
	// script says.
	s.Script(AccountsApprove)
	bad := url.Values{"client_id": {"c"}, "grant_type": {accountsDeviceGrant}, "device_code": {"other"}}
	if code, ans := accountsPost(t, s, AccountsTokenPath, bad); code != 400 || ans["error"] != "invalid_grant" {
		t.Fatalf("wrong device code: %d %v", code, ans)
	}
	bad = url.Values{"client_id": {"c"}, "grant_type": {"authorization_code"}, "device_code": {AccountsDefaultDeviceCode}}
	if code, ans := accountsPost(t, s, AccountsTokenPath, bad); code != 400 || ans["error"] != "unsupported_grant_type" {
		t.Fatalf("wrong grant: %d %v", code, ans)
	}
	if code, ans := accountsPost(t, s, AccountsTokenPath, poll); code != 200 || ans["access_token"] != AccountsDefaultToken {
		t.Fatalf("the refused polls used up the scripted approval: %d %v", code, ans)
	}
	if n := len(s.Polls()); n != 6 {
		t.Fatalf("%d polls recorded, want 6", n)
	}
}

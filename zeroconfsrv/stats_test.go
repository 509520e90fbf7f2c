package zeroconfsrv

import (
	"maps"
	"net/http"
	"net/url"
	"testing"

	"github.com/speakerbox/speakerbox/zeroconfsrv/phonetest"
)

// Every addUser answer is counted by its ZeroConf and HTTP status, and
// nothing else is: getInfo and resetUsers leave the counts alone.
func TestStatsCountAddUserResults(t *testing.T) {
	f := newFixture(t, func(c *HandlerConfig) { c.AllowedUsers = []string{"alice"} })
	if st := f.h.Stats(); len(st.AddUser) != 0 {
		t.Fatalf("counts before any request: %v", st.AddUser)
	}
	bob := phonetest.Login{Username: "bob", AuthType: 1, AuthData: []byte("b")}
	f.post(f.form(t, alice))                          // accepted
	f.post(f.form(t, bob))                            // 202: not allowed
	f.post(url.Values{"action": {"addUser"}})         // 303: missing arguments
	f.do(http.MethodGet, "/?action=addUser", nil, "") // 102: not a POST
	f.post(f.form(t, alice))                          // accepted again
	f.post(url.Values{"action": {"resetUsers"}})      // not addUser
	f.do(http.MethodGet, "/?action=getInfo", nil, "") // not addUser

	want := map[AddUserResult]uint64{
		{Status: 101, HTTP: 200}: 2,
		{Status: 202, HTTP: 200}: 1,
		{Status: 303, HTTP: 400}: 1,
		{Status: 102, HTTP: 400}: 1,
	}
	st := f.h.Stats()
	if !maps.Equal(st.AddUser, want) {
		t.Fatalf("addUser counts %v, want %v", st.AddUser, want)
	}
	for r := range st.AddUser {
		if r.Accepted() != (r.Status == 101) {
			t.Errorf("%+v: Accepted() = %v", r, r.Accepted())
		}
	}
	// The snapshot is a copy.
	st.AddUser[AddUserResult{Status: 101, HTTP: 200}] = 99
	if f.h.Stats().AddUser[AddUserResult{Status: 101, HTTP: 200}] != 2 {
		t.Fatal("Stats returned the live map")
	}
}

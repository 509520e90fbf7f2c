package creds

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) tick()          { c.mu.Lock(); c.t = c.t.Add(time.Minute); c.mu.Unlock() }

func newTestStore(t *testing.T) (*Store, *bytes.Buffer, *clock) {
	t.Helper()
	var logs bytes.Buffer
	c := &clock{t: time.Date(2026, 11, 23, 16, 30, 0, 0, time.UTC)}
	return NewStore(t.TempDir(), slog.New(slog.NewTextHandler(&logs, nil)), c.now), &logs, c
}

func cred(name string) Credentials {
	return Credentials{Username: name, AuthType: AuthStoredSpotify, AuthData: []byte("secret-of-" + name)}
}

func reusable(name string) Credentials {
	return Credentials{Username: name, AuthType: AuthStoredSpotify, AuthData: []byte("reusable-of-" + name)}
}

// describe renders the store's entries as "name:v|u:data" for comparisons.
func describe(t *testing.T, s *Store) string {
	t.Helper()
	all, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range all {
		k := "u"
		if e.Verified {
			k = "v"
		}
		out = append(out, e.Username+":"+k+":"+string(e.AuthData))
	}
	return strings.Join(out, " ")
}

func defaultFile(t *testing.T, s *Store) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir(), DefaultFile))
	if os.IsNotExist(err) {
		return "<none>"
	}
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(b)
	if err != nil {
		t.Fatalf("credentials.json: %v", err)
	}
	return c.Username + ":" + string(c.AuthData)
}

// A phone's handover is stored at once (offline first) as unverified and is
// the login tried first, but credentials.json (what librespot tools import)
// only ever holds a login Spotify accepted.
func TestPutIsUnverifiedAndTriedFirst(t *testing.T) {
	s, _, _ := newTestStore(t)
	if err := s.Put(cred("alice")); err != nil {
		t.Fatal(err)
	}
	if got := describe(t, s); got != "alice:u:secret-of-alice" {
		t.Fatalf("entries %s", got)
	}
	def, ok, err := s.Default()
	if !ok || err != nil || def.Username != "alice" || def.Verified {
		t.Fatalf("Default = %+v %v %v", def, ok, err)
	}
	if got := defaultFile(t, s); got != "<none>" {
		t.Fatalf("credentials.json holds %s before Spotify accepted anything", got)
	}
	st, err := os.Stat(filepath.Join(s.Dir(), UsersFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want mode 0600", UsersFile, st, err)
	}
}

func TestAcceptedVerifiesAndWritesLibrespotFile(t *testing.T) {
	s, _, clk := newTestStore(t)
	s.Put(cred("alice"))
	clk.tick()
	if err := s.Accepted(cred("alice"), reusable("alice")); err != nil {
		t.Fatal(err)
	}
	if got := describe(t, s); got != "alice:v:reusable-of-alice" {
		t.Fatalf("entries %s (the unverified handover must give way to the accepted login)", got)
	}
	all, _ := s.List()
	if !all[0].LastUsed.Equal(clk.now()) {
		t.Fatalf("last used %v, want %v", all[0].LastUsed, clk.now())
	}
	// credentials.json is exactly librespot's format.
	b, _ := os.ReadFile(filepath.Join(s.Dir(), DefaultFile))
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || len(m) != 3 || m["username"] != "alice" || m["auth_type"] != float64(1) || m["auth_data"] != "cmV1c2FibGUtb2YtYWxpY2U=" {
		t.Fatalf("credentials.json = %s", b)
	}
	st, err := os.Stat(filepath.Join(s.Dir(), DefaultFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want mode 0600", DefaultFile, st, err)
	}

	// No reusable credentials handed back: the login itself is kept, verified.
	s.Put(cred("bob"))
	if err := s.Accepted(cred("bob"), Credentials{Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	if got := describe(t, s); got != "alice:v:reusable-of-alice bob:v:secret-of-bob" {
		t.Fatalf("entries %s", got)
	}
	// The access point's canonical name differs from the one the phone sent:
	// the handover is still recognised and dropped.
	s.Put(cred("Carol@example.com"))
	if err := s.Accepted(cred("Carol@example.com"), reusable("carol")); err != nil {
		t.Fatal(err)
	}
	if got := describe(t, s); got != "alice:v:reusable-of-alice bob:v:secret-of-bob carol:v:reusable-of-carol" {
		t.Fatalf("entries %s", got)
	}
	if got := defaultFile(t, s); got != "carol:reusable-of-carol" {
		t.Fatalf("credentials.json = %s", got)
	}
	if err := s.Accepted(Credentials{Username: "x"}, Credentials{}); err == nil {
		t.Fatal("Accepted stored credentials without auth data")
	}
}

// The abuse measured in issue 9: a LAN client inventing users. They never
// displace a login Spotify accepted, at most MaxUnverified are kept (the
// newest), and credentials.json keeps the verified user.
func TestUnverifiedNeverEvictVerified(t *testing.T) {
	s, _, clk := newTestStore(t)
	for _, n := range []string{"alice", "bob"} {
		s.Put(cred(n))
		s.Accepted(cred(n), reusable(n))
	}
	const invented = 50
	for i := range invented {
		clk.tick()
		if err := s.Put(cred(fmt.Sprintf("invented%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	want := "alice:v:reusable-of-alice bob:v:reusable-of-bob"
	for i := invented - MaxUnverified; i < invented; i++ {
		want += fmt.Sprintf(" invented%02d:u:secret-of-invented%02d", i, i)
	}
	if got := describe(t, s); got != want {
		t.Fatalf("entries\n %s\nwant\n %s", got, want)
	}
	if got := defaultFile(t, s); got != "bob:reusable-of-bob" {
		t.Fatalf("credentials.json = %s", got)
	}
	// Offline first: the newest handover is still what start tries.
	if def, _, _ := s.Default(); def.Username != fmt.Sprintf("invented%02d", invented-1) {
		t.Fatalf("Default = %s", def.Username)
	}
	b, _ := os.ReadFile(filepath.Join(s.Dir(), UsersFile))
	if len(b) > 2048 {
		t.Fatalf("users file is %d bytes after %d invented users", len(b), invented)
	}
}

// A new handover for a user Spotify already accepted sits beside the
// verified login until Spotify decides: accepted, it replaces it; refused,
// it goes and the verified login is untouched.
func TestHandoverForVerifiedUser(t *testing.T) {
	s, _, _ := newTestStore(t)
	s.Put(cred("alice"))
	s.Accepted(cred("alice"), reusable("alice"))
	other := Credentials{Username: "ALICE", AuthType: AuthStoredSpotify, AuthData: []byte("forged")}
	if err := s.Put(other); err != nil {
		t.Fatal(err)
	}
	if got := describe(t, s); got != "alice:v:reusable-of-alice ALICE:u:forged" {
		t.Fatalf("entries %s", got)
	}
	if e, ok, _ := s.Get("Alice"); !ok || !e.Verified || string(e.AuthData) != "reusable-of-alice" {
		t.Fatalf("Get prefers %+v, want the verified login", e)
	}
	removed, err := s.Rejected(other)
	if !removed || err != nil {
		t.Fatalf("Rejected: %v %v", removed, err)
	}
	if got := describe(t, s); got != "alice:v:reusable-of-alice" {
		t.Fatalf("entries after refusal %s", got)
	}
	if def, _, _ := s.Default(); string(def.AuthData) != "reusable-of-alice" {
		t.Fatalf("Default after refusal = %v", def)
	}

	fresh := Credentials{Username: "alice", AuthType: AuthStoredSpotify, AuthData: []byte("new-phone")}
	s.Put(fresh)
	s.Accepted(fresh, Credentials{Username: "alice", AuthType: AuthStoredSpotify, AuthData: []byte("reusable-2")})
	if got := describe(t, s); got != "alice:v:reusable-2" {
		t.Fatalf("entries after acceptance %s", got)
	}
}

// A verified login refused later (e.g. Premium lapsed) stays; a refusal of
// credentials nobody stored changes nothing.
func TestRejectedKeepsVerified(t *testing.T) {
	s, _, _ := newTestStore(t)
	s.Put(cred("alice"))
	s.Accepted(cred("alice"), reusable("alice"))
	before, _ := os.ReadFile(filepath.Join(s.Dir(), UsersFile))
	for _, c := range []Credentials{reusable("alice"), cred("nobody")} {
		if removed, err := s.Rejected(c); removed || err != nil {
			t.Fatalf("Rejected(%v) = %v %v", c, removed, err)
		}
	}
	after, _ := os.ReadFile(filepath.Join(s.Dir(), UsersFile))
	if !bytes.Equal(before, after) {
		t.Fatal("a refusal that dropped nothing rewrote the users file")
	}
}

// The verified list is capped with least-recently-used eviction: a login
// Spotify accepts again counts as used.
func TestVerifiedCapEvictsLeastRecentlyUsed(t *testing.T) {
	s, _, clk := newTestStore(t)
	accept := func(n string) {
		t.Helper()
		clk.tick()
		if err := s.Accepted(cred(n), reusable(n)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range MaxVerified {
		accept(fmt.Sprintf("u%02d", i))
	}
	accept("u00") // used again: now the most recent
	accept("late1")
	accept("late2")
	all, _ := s.List()
	if len(all) != MaxVerified {
		t.Fatalf("%d entries, want the cap %d", len(all), MaxVerified)
	}
	names := map[string]bool{}
	for _, e := range all {
		names[e.Username] = true
	}
	if names["u01"] || names["u02"] || !names["u00"] || !names["u03"] || !names["late2"] {
		t.Fatalf("kept %v: want u01 and u02 (least recently used) evicted, u00 kept", names)
	}
	if all[len(all)-1].Username != "late2" || all[len(all)-3].Username != "u00" {
		t.Fatalf("order %v", all)
	}
}

// Handing over exactly a verified login's credentials again (SpotifyPlus
// replaying stored credentials) makes it the newest, without a duplicate.
func TestPutOfVerifiedCredentialsMakesThemNewest(t *testing.T) {
	s, _, _ := newTestStore(t)
	for _, n := range []string{"alice", "bob"} {
		s.Accepted(cred(n), reusable(n))
	}
	if err := s.Put(reusable("alice")); err != nil {
		t.Fatal(err)
	}
	if got := describe(t, s); got != "bob:v:reusable-of-bob alice:v:reusable-of-alice" {
		t.Fatalf("entries %s", got)
	}
	if got := defaultFile(t, s); got != "alice:reusable-of-alice" {
		t.Fatalf("credentials.json = %s", got)
	}
}

func TestForget(t *testing.T) {
	s, _, _ := newTestStore(t)
	for _, n := range []string{"alice", "bob", "carol"} {
		s.Accepted(cred(n), reusable(n))
	}
	s.Put(cred("Carol")) // an unverified handover beside carol's verified login
	if found, err := s.Forget("CAROL"); !found || err != nil {
		t.Fatalf("forget: %v %v", found, err)
	}
	if got := describe(t, s); got != "alice:v:reusable-of-alice bob:v:reusable-of-bob" {
		t.Fatalf("entries %s (both of carol's logins must go)", got)
	}
	if got := defaultFile(t, s); got != "bob:reusable-of-bob" {
		t.Fatalf("after forgetting the newest verified user, credentials.json = %s", got)
	}
	if found, _ := s.Forget("nobody"); found {
		t.Fatal("forgot a user that was never stored")
	}
	s.Forget("bob")
	s.Forget("alice")
	if got := defaultFile(t, s); got != "<none>" {
		t.Fatalf("credentials.json still there after the last user was forgotten: %s", got)
	}
	if got := describe(t, s); got != "" {
		t.Fatalf("entries %s", got)
	}
}

func TestPutRefusesInvalidAndChangesNothing(t *testing.T) {
	s, _, _ := newTestStore(t)
	s.Put(cred("alice"))
	before, _ := os.ReadFile(filepath.Join(s.Dir(), UsersFile))
	for _, c := range []Credentials{
		{Username: "bob", AuthType: AuthUserPass, AuthData: []byte("pw")},
		{Username: "", AuthType: 1, AuthData: []byte("x")},
		{Username: "bob", AuthType: 1},
		{Username: "bob", AuthType: 99, AuthData: []byte("x")},
	} {
		if err := s.Put(c); err == nil {
			t.Errorf("Put(%v) accepted", c)
		}
	}
	after, _ := os.ReadFile(filepath.Join(s.Dir(), UsersFile))
	if !bytes.Equal(before, after) {
		t.Fatal("a refused Put changed the users file")
	}
}

// Files written before verified/last_used existed load as they are: every
// entry verified (it may have been, and dropping a working login is worse
// than keeping a dud), in the file's order. The next write adds the fields.
func TestOldFilesLoad(t *testing.T) {
	s, _, _ := newTestStore(t)
	old := `[
  {"username": "alice", "auth_type": 1, "auth_data": "YQ=="},
  {"username": "bob", "auth_type": 1, "auth_data": "Yg=="}
]`
	os.WriteFile(filepath.Join(s.Dir(), UsersFile), []byte(old), 0o600)
	os.WriteFile(filepath.Join(s.Dir(), DefaultFile), []byte(`{"username": "bob", "auth_type": 1, "auth_data": "Yg=="}`), 0o600)
	if got := describe(t, s); got != "alice:v:a bob:v:b" {
		t.Fatalf("entries %s", got)
	}
	if err := s.Put(cred("carol")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(s.Dir(), UsersFile))
	var recs []map[string]any
	if err := json.Unmarshal(b, &recs); err != nil || len(recs) != 3 {
		t.Fatalf("users file %s: %v", b, err)
	}
	if recs[0]["verified"] != true || recs[2]["verified"] != false || recs[2]["last_used"] != "2026-11-23T16:30:00Z" || recs[0]["last_used"] != nil {
		t.Fatalf("users file %s", b)
	}
	// And the new file still reads as a plain librespot array (SpotifyPlus,
	// or an older speakerbox after a downgrade).
	if l, err := ParseList(b); err != nil || len(l) != 3 || l[2].Username != "carol" {
		t.Fatalf("ParseList: %v %v", l, err)
	}
}

func TestLibrespotFileAloneIsOneUser(t *testing.T) {
	s, _, _ := newTestStore(t)
	os.WriteFile(filepath.Join(s.Dir(), DefaultFile), []byte(`{"username":"zed","auth_type":1,"auth_data":"QUJD"}`), 0o600)
	all, err := s.List()
	if err != nil || len(all) != 1 || all[0].Username != "zed" || string(all[0].AuthData) != "ABC" || !all[0].Verified {
		t.Fatalf("List = %+v, %v", all, err)
	}
}

// credentials.json is written before the users file: a crash in between
// leaves a credentials.json the users file does not know, which loading
// takes as the newest verified login.
func TestCrashBetweenWritesAdoptsCredentialsJSON(t *testing.T) {
	s, _, _ := newTestStore(t)
	s.Accepted(cred("alice"), reusable("alice"))
	s.Put(cred("bob"))
	os.WriteFile(filepath.Join(s.Dir(), DefaultFile), []byte(`{"username":"alice","auth_type":1,"auth_data":"bmV3ZXI="}`), 0o600)
	if got := describe(t, s); got != "bob:u:secret-of-bob alice:v:newer" {
		t.Fatalf("entries %s", got)
	}
}

func TestCorruptFileMovedAside(t *testing.T) {
	s, logs, _ := newTestStore(t)
	p := filepath.Join(s.Dir(), DefaultFile)
	os.WriteFile(p, []byte(`{"username":"zed","auth_type":1,"auth_data":"SECRET-NOT-BASE64`), 0o600)
	_, ok, err := s.Default()
	if ok || err != nil {
		t.Fatalf("Default on a corrupt file: ok=%v err=%v", ok, err)
	}
	kept := p + ".corrupt-20261123T163000Z"
	if b, err := os.ReadFile(kept); err != nil || !bytes.Contains(b, []byte("zed")) {
		t.Fatalf("corrupt file not kept at %s: %v", kept, err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatal("corrupt file still in place")
	}
	if !strings.Contains(logs.String(), "corrupt") || !strings.Contains(logs.String(), kept) {
		t.Fatalf("log does not say where the file went: %s", logs)
	}
	if strings.Contains(logs.String(), "SECRET") {
		t.Fatal("log quotes the file's content")
	}
	// The store works again afterwards.
	if err := s.Put(cred("amy")); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentWritesLeaveWholeFiles(t *testing.T) {
	s, _, _ := newTestStore(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := fmt.Sprintf("user%d", i)
			if err := s.Put(cred(n)); err != nil {
				t.Error(err)
			}
			if err := s.Accepted(cred(n), reusable(n)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	all, err := s.List()
	if err != nil || len(all) != 8 {
		t.Fatalf("List: %d users, %v", len(all), err)
	}
	for _, e := range all {
		if !e.Verified || string(e.AuthData) != "reusable-of-"+e.Username {
			t.Fatalf("entry %s: verified %v, data of the wrong user or stage", e.Username, e.Verified)
		}
	}
	if got := defaultFile(t, s); got != all[len(all)-1].Username+":reusable-of-"+all[len(all)-1].Username {
		t.Fatalf("credentials.json %s is not the newest verified user %s", got, all[len(all)-1].Username)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"username":"a","auth_type":1,"auth_data":"QUJD"}`))
	f.Add([]byte(`[{"username":"a","auth_type":1,"auth_data":"QUJD"}]`))
	f.Add([]byte(`[{"username":"a","auth_type":1,"auth_data":"QUJD","verified":false,"last_used":"2026-11-23T16:30:00Z"}]`))
	f.Add([]byte(`{"username":"a","auth_type":0,"auth_data":"QUJD"}`))
	f.Add([]byte(`{"username":"a","auth_type":4294967297,"auth_data":"QUJD"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := Parse(b); err == nil && c.Validate() != nil {
			t.Fatal("Parse returned invalid credentials")
		}
		if l, err := parseUsers(b); err == nil {
			for _, e := range l {
				if e.Validate() != nil {
					t.Fatal("parseUsers returned invalid credentials")
				}
			}
			// What we read, we write back and read the same.
			out, err := marshalUsers(l)
			if err != nil {
				t.Fatal(err)
			}
			again, err := parseUsers(out)
			if err != nil || len(again) != len(l) {
				t.Fatalf("round trip: %v", err)
			}
			for i := range l {
				if !same(l[i].Credentials, again[i].Credentials) || l[i].Verified != again[i].Verified || !l[i].LastUsed.Equal(again[i].LastUsed) {
					t.Fatalf("round trip changed entry %d", i)
				}
			}
		}
	})
}

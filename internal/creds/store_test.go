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

func newTestStore(t *testing.T) (*Store, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	now := func() time.Time { return time.Date(2026, 11, 23, 16, 30, 0, 0, time.UTC) }
	return NewStore(t.TempDir(), slog.New(slog.NewTextHandler(&logs, nil)), now), &logs
}

func cred(name string) Credentials {
	return Credentials{Username: name, AuthType: AuthStoredSpotify, AuthData: []byte("secret-of-" + name)}
}

func TestPutListForget(t *testing.T) {
	s, _ := newTestStore(t)
	for _, n := range []string{"alice", "bob", "carol", "Alice"} {
		if err := s.Put(cred(n)); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range all {
		names = append(names, c.Username)
	}
	if got := strings.Join(names, ","); got != "bob,carol,Alice" {
		t.Fatalf("users = %s, want bob,carol,Alice (re-login replaces and moves last)", got)
	}
	def, ok, _ := s.Default()
	if !ok || def.Username != "Alice" {
		t.Fatalf("default = %+v", def)
	}
	// credentials.json is exactly librespot's format.
	b, _ := os.ReadFile(filepath.Join(s.Dir(), DefaultFile))
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || len(m) != 3 || m["username"] != "Alice" || m["auth_type"] != float64(1) || m["auth_data"] != "c2VjcmV0LW9mLUFsaWNl" {
		t.Fatalf("credentials.json = %s", b)
	}
	for _, f := range []string{DefaultFile, UsersFile} {
		st, err := os.Stat(filepath.Join(s.Dir(), f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v err %v, want 0600", f, st.Mode().Perm(), err)
		}
	}

	if found, err := s.Forget("ALICE"); !found || err != nil {
		t.Fatalf("forget: %v %v", found, err)
	}
	def, _, _ = s.Default()
	if def.Username != "carol" {
		t.Fatalf("after forgetting the default, default = %q, want carol", def.Username)
	}
	if found, _ := s.Forget("nobody"); found {
		t.Fatal("forgot a user that was never stored")
	}
	s.Forget("bob")
	s.Forget("carol")
	if _, err := os.Stat(filepath.Join(s.Dir(), DefaultFile)); !os.IsNotExist(err) {
		t.Fatalf("credentials.json still there after the last user was forgotten: %v", err)
	}
}

func TestPutRefusesInvalidAndChangesNothing(t *testing.T) {
	s, _ := newTestStore(t)
	s.Put(cred("alice"))
	before, _ := os.ReadFile(filepath.Join(s.Dir(), DefaultFile))
	for _, c := range []Credentials{
		{Username: "bob", AuthType: AuthUserPass, AuthData: []byte("pw")},
		{Username: "", AuthType: 1, AuthData: []byte("x")},
		{Username: "bob", AuthType: 1},
		{Username: "bob", AuthType: 99, AuthData: []byte("x")},
	} {
		if err := s.Put(c); err == nil {
			t.Errorf("Put(%+v) accepted", c)
		}
	}
	after, _ := os.ReadFile(filepath.Join(s.Dir(), DefaultFile))
	if !bytes.Equal(before, after) {
		t.Fatal("a refused Put changed credentials.json")
	}
}

func TestLibrespotFileAloneIsOneUser(t *testing.T) {
	s, _ := newTestStore(t)
	os.WriteFile(filepath.Join(s.Dir(), DefaultFile), []byte(`{"username":"zed","auth_type":1,"auth_data":"QUJD"}`), 0o600)
	all, err := s.List()
	if err != nil || len(all) != 1 || all[0].Username != "zed" || string(all[0].AuthData) != "ABC" {
		t.Fatalf("List = %+v, %v", all, err)
	}
}

func TestCorruptFileMovedAside(t *testing.T) {
	s, logs := newTestStore(t)
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

func TestConcurrentPutsLeaveWholeFiles(t *testing.T) {
	s, _ := newTestStore(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Put(cred(fmt.Sprintf("user%d", i))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	def, ok, err := s.Default()
	if !ok || err != nil {
		t.Fatalf("default: %v %v", ok, err)
	}
	all, err := s.List()
	if err != nil || len(all) != 8 {
		t.Fatalf("List: %d users, %v", len(all), err)
	}
	if all[len(all)-1].Username != def.Username {
		t.Fatalf("default %q is not the last user in the list %q", def.Username, all[len(all)-1].Username)
	}
	if string(def.AuthData) != "secret-of-"+def.Username {
		t.Fatal("default file mixes two users")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"username":"a","auth_type":1,"auth_data":"QUJD"}`))
	f.Add([]byte(`[{"username":"a","auth_type":1,"auth_data":"QUJD"}]`))
	f.Add([]byte(`{"username":"a","auth_type":0,"auth_data":"QUJD"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := Parse(b); err == nil && c.Validate() != nil {
			t.Fatal("Parse returned invalid credentials")
		}
		if l, err := ParseList(b); err == nil {
			for _, c := range l {
				if c.Validate() != nil {
					t.Fatal("ParseList returned invalid credentials")
				}
			}
		}
	})
}

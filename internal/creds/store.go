package creds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/speakerbox/speakerbox/internal/redact"
	"github.com/speakerbox/speakerbox/internal/statedir"
)

// File names in the state directory.
const (
	// DefaultFile holds the newest login Spotify has accepted, in librespot's
	// format, so librespot-based tools can read it as it is. Credentials a
	// phone handed over but Spotify has not accepted yet never go there.
	DefaultFile = "credentials.json"
	// UsersFile holds every stored login: a JSON array of objects in
	// librespot's format, least recently used first, each with two fields
	// of ours, "verified" and "last_used". It keeps the shape SpotifyPlus
	// reads from SpotifyWebApiPython_librespot_credentials.json (readers
	// that do not know the extra fields ignore them).
	UsersFile = "credentials-users.json"
	filePerm  = 0o600
)

// Bounds on what the store keeps, so that no LAN client can grow it (and
// the rewrite on every login) without limit.
const (
	// MaxVerified is how many logins Spotify has accepted the store keeps;
	// past it, the least recently used one is dropped.
	MaxVerified = 16
	// MaxUnverified is how many logins handed over by phones, not yet
	// accepted by Spotify, the store keeps; past it, the oldest is dropped.
	// They never displace a verified login.
	MaxUnverified = 3
)

// Entry is one stored login.
type Entry struct {
	Credentials
	// Verified is true once Spotify's access point has accepted the login.
	// Entries from files written before the distinction load as verified.
	Verified bool
	// LastUsed is when a phone handed the login over (unverified) or when
	// Spotify last accepted it (verified); zero when not known.
	LastUsed time.Time
}

// Store keeps credentials in a state directory. Writes are atomic (temp
// file, fsync, rename, fsync dir) and serialised, so concurrent callers leave
// both files whole. When credentials.json changes it is written before the
// users file: after a crash in between, the users file may still hold a login
// that was being forgotten, but credentials.json never names one the users
// file has dropped, and loading takes a credentials.json it does not find
// in the users file as the newest verified login (which is also how a
// credentials.json copied from librespot is adopted).
type Store struct {
	dir string
	log *slog.Logger
	now func() time.Time
	mu  sync.Mutex
}

// NewStore returns a store in dir. now stamps logins and the names of
// corrupt files moved aside.
func NewStore(dir string, log *slog.Logger, now func() time.Time) *Store {
	return &Store{dir: dir, log: log, now: now}
}

// Dir is the directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// state is what the two files hold.
type state struct {
	entries []Entry      // least recently used first
	onDisk  *Credentials // credentials.json as read, nil if absent
}

// Default returns the login to try first at start: the newest one, verified
// or not, so credentials a phone handed over while the network was down are
// tried as soon as it is back. ok is false when there is none. A corrupt
// file is moved aside (kept) with a log line.
func (s *Store) Default() (e Entry, ok bool, err error) {
	all, err := s.List()
	if err != nil || len(all) == 0 {
		return Entry{}, false, err
	}
	return all[len(all)-1], true, nil
}

// List returns every stored login, least recently used first.
func (s *Store) List() ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load()
	return st.entries, err
}

// Get returns username's login (usernames compare case-insensitively, as
// Spotify's do); a verified login is preferred to an unverified one.
func (s *Store) Get(username string) (Entry, bool, error) {
	all, err := s.List()
	if err != nil {
		return Entry{}, false, err
	}
	return Preferred(all, username)
}

// Preferred returns username's entry from all: the verified one if there is
// one, else the unverified one.
func Preferred(all []Entry, username string) (Entry, bool, error) {
	var found *Entry
	for i := range all {
		e := &all[i]
		if strings.EqualFold(e.Username, username) && (found == nil || e.Verified && !found.Verified) {
			found = e
		}
	}
	if found == nil {
		return Entry{}, false, nil
	}
	return *found, true, nil
}

// Put stores c as a login a phone handed over: unverified, the newest, so
// it is tried first at the next start. It replaces an unverified login of
// the same user and drops the oldest unverified one past MaxUnverified; it
// never touches a verified login, except that handing over exactly a
// verified login's credentials again makes that one the newest. Invalid
// credentials are refused and nothing changes.
func (s *Store) Put(c Credentials) error {
	if err := c.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load()
	if err != nil {
		return err
	}
	now := s.now().UTC()
	if i := slices.IndexFunc(st.entries, func(e Entry) bool { return e.Verified && same(e.Credentials, c) }); i >= 0 {
		e := st.entries[i]
		e.LastUsed = now
		return s.save(st, append(slices.Delete(st.entries, i, i+1), e))
	}
	next := slices.DeleteFunc(slices.Clone(st.entries), func(e Entry) bool {
		return !e.Verified && strings.EqualFold(e.Username, c.Username)
	})
	return s.save(st, append(next, Entry{Credentials: c, LastUsed: now}))
}

// Accepted records that Spotify's access point accepted a login made with
// used and handed back reusable for the next one (reusable.AuthData may be
// empty: then used itself is kept). The login becomes verified and the
// newest; the unverified entry it was made with is dropped, and past
// MaxVerified the least recently used verified login goes.
func (s *Store) Accepted(used, reusable Credentials) error {
	v := reusable
	if len(v.AuthData) == 0 {
		v = used
	}
	if v.Username == "" {
		v.Username = used.Username
	}
	if err := v.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load()
	if err != nil {
		return err
	}
	next := slices.DeleteFunc(slices.Clone(st.entries), func(e Entry) bool {
		if e.Verified {
			return strings.EqualFold(e.Username, v.Username) || strings.EqualFold(e.Username, used.Username)
		}
		return same(e.Credentials, used)
	})
	return s.save(st, append(next, Entry{Credentials: v, Verified: true, LastUsed: s.now().UTC()}))
}

// Rejected records that Spotify refused used for good: an unverified entry
// with exactly these credentials is dropped (removed is true). A verified
// login stays: Spotify accepted it once, and a refusal such as "Premium
// required" can pass.
func (s *Store) Rejected(used Credentials) (removed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load()
	if err != nil {
		return false, err
	}
	next := slices.DeleteFunc(slices.Clone(st.entries), func(e Entry) bool {
		return !e.Verified && same(e.Credentials, used)
	})
	if len(next) == len(st.entries) {
		return false, nil
	}
	return true, s.save(st, next)
}

// Forget removes every login of username. found is false when there was
// none.
func (s *Store) Forget(username string) (found bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load()
	if err != nil {
		return false, err
	}
	next := slices.DeleteFunc(slices.Clone(st.entries), func(e Entry) bool {
		return strings.EqualFold(e.Username, username)
	})
	if len(next) == len(st.entries) {
		return false, nil
	}
	return true, s.save(st, next)
}

// same reports whether a and b are the same login: the same user (case
// aside) with the same secret.
func same(a, b Credentials) bool {
	return strings.EqualFold(a.Username, b.Username) && a.AuthType == b.AuthType && bytes.Equal(a.AuthData, b.AuthData)
}

// trim applies the caps: the oldest unverified entries past MaxUnverified
// and the least recently used verified ones past MaxVerified go. Entries
// are ordered least recently used first, so it walks from the newest end.
func trim(all []Entry) []Entry {
	keep := make([]bool, len(all))
	var nv, nu int
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Verified {
			nv++
			keep[i] = nv <= MaxVerified
		} else {
			nu++
			keep[i] = nu <= MaxUnverified
		}
	}
	out := make([]Entry, 0, min(len(all), MaxVerified+MaxUnverified))
	for i, e := range all {
		if keep[i] {
			out = append(out, e)
		}
	}
	return out
}

func newestVerified(all []Entry) *Credentials {
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Verified {
			return &all[i].Credentials
		}
	}
	return nil
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name) }

// load reads both files. A credentials.json that matches no verified entry
// of the users file (copied from librespot, or written just before a crash)
// is taken as the newest verified login.
func (s *Store) load() (state, error) {
	var st state
	b, err := os.ReadFile(s.path(UsersFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return state{}, fmt.Errorf("read credentials: %w", err)
	default:
		st.entries, err = parseUsers(b)
		if err != nil {
			s.moveAside(UsersFile, err)
			st.entries = nil
		}
	}
	def, ok, err := s.loadDefault()
	if err != nil {
		return state{}, err
	}
	if ok {
		st.onDisk = &def
		if !slices.ContainsFunc(st.entries, func(e Entry) bool { return e.Verified && same(e.Credentials, def) }) {
			st.entries = append(slices.DeleteFunc(st.entries, func(e Entry) bool {
				return e.Verified && strings.EqualFold(e.Username, def.Username)
			}), Entry{Credentials: def, Verified: true})
		}
	}
	st.entries = trim(st.entries)
	return st, nil
}

func (s *Store) loadDefault() (Credentials, bool, error) {
	b, err := os.ReadFile(s.path(DefaultFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Credentials{}, false, nil
	}
	if err != nil {
		return Credentials{}, false, fmt.Errorf("read credentials: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		s.moveAside(DefaultFile, err)
		return Credentials{}, false, nil
	}
	return c, true, nil
}

// save writes next (trimmed) over st: credentials.json first, and only when
// the newest verified login changed, then the users file.
func (s *Store) save(st state, next []Entry) error {
	next = trim(next)
	nv := newestVerified(next)
	switch {
	case nv == nil && st.onDisk != nil:
		if err := os.Remove(s.path(DefaultFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %q: %w", s.path(DefaultFile), err)
		}
	case nv != nil && (st.onDisk == nil || !same(*st.onDisk, *nv) || st.onDisk.Username != nv.Username):
		if err := s.writeDefault(*nv); err != nil {
			return err
		}
	}
	return s.writeUsers(next)
}

// moveAside renames a corrupt file so it is kept for inspection but no
// longer read. The parse error never quotes the file's content.
func (s *Store) moveAside(name string, why error) {
	from := s.path(name)
	to := from + ".corrupt-" + s.now().UTC().Format("20060102T150405Z")
	if err := os.Rename(from, to); err != nil {
		s.log.Error("credentials file is corrupt and could not be moved aside; ignoring it", "path", from, "err", why, "rename_err", err)
		return
	}
	s.log.Warn("credentials file is corrupt; moved it aside and waiting for a phone to log in", "path", from, "moved_to", to, "err", why)
}

func (s *Store) writeDefault(c Credentials) error {
	b, err := c.Marshal()
	if err != nil {
		return err
	}
	if err := statedir.WriteFileAtomic(s.path(DefaultFile), b, filePerm); err != nil {
		return fmt.Errorf("store credentials of %s: %w", redact.Username(c.Username), err)
	}
	return nil
}

func (s *Store) writeUsers(all []Entry) error {
	b, err := marshalUsers(all)
	if err != nil {
		return err
	}
	if err := statedir.WriteFileAtomic(s.path(UsersFile), b, filePerm); err != nil {
		return fmt.Errorf("store credentials list: %w", err)
	}
	return nil
}

// userRecord is one entry of the users file: librespot's three fields and
// ours. Verified is a pointer so that a file from before it existed (no
// field) can be told from one that says false.
type userRecord struct {
	Username string     `json:"username"`
	AuthType AuthType   `json:"auth_type"`
	AuthData []byte     `json:"auth_data"`
	Verified *bool      `json:"verified,omitempty"`
	LastUsed *time.Time `json:"last_used,omitempty"`
}

func marshalUsers(all []Entry) ([]byte, error) {
	recs := make([]userRecord, 0, len(all))
	for _, e := range all {
		r := userRecord{Username: e.Username, AuthType: e.AuthType, AuthData: e.AuthData, Verified: &e.Verified}
		if !e.LastUsed.IsZero() {
			r.LastUsed = &e.LastUsed
		}
		recs = append(recs, r)
	}
	b, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode credentials list: %w", err)
	}
	return append(b, '\n'), nil
}

// parseUsers reads the users file. Every entry must be valid librespot
// credentials; an entry without "verified" (written before the field
// existed) loads as verified, so an upgrade never demotes a login that
// worked.
func parseUsers(b []byte) ([]Entry, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("parse credentials list: %w", err)
	}
	out := make([]Entry, 0, len(raw))
	for i, r := range raw {
		c, err := Parse(r)
		if err != nil {
			return nil, fmt.Errorf("credentials list entry %d: %w", i, err)
		}
		var ext struct {
			Verified *bool      `json:"verified"`
			LastUsed *time.Time `json:"last_used"`
		}
		if err := json.Unmarshal(r, &ext); err != nil {
			return nil, fmt.Errorf("credentials list entry %d: %w", i, err)
		}
		e := Entry{Credentials: c, Verified: ext.Verified == nil || *ext.Verified}
		if ext.LastUsed != nil {
			e.LastUsed = *ext.LastUsed
		}
		out = append(out, e)
	}
	return out, nil
}

// MarshalList encodes credentials as a JSON array of librespot objects (the
// multi-user format SpotifyPlus reads), without our fields.
func MarshalList(all []Credentials) ([]byte, error) {
	if all == nil {
		all = []Credentials{}
	}
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode credentials list: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseList reads a JSON array of librespot credential objects; every entry
// must be valid.
func ParseList(b []byte) ([]Credentials, error) {
	entries, err := parseUsers(b)
	if err != nil {
		return nil, err
	}
	out := make([]Credentials, len(entries))
	for i, e := range entries {
		out[i] = e.Credentials
	}
	return out, nil
}

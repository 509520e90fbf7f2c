package creds

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/speakerbox/speakerbox/internal/redact"
	"github.com/speakerbox/speakerbox/internal/statedir"
)

// File names in the state directory.
const (
	// DefaultFile holds the default login (the user who logged in last) in
	// librespot's format, so librespot-based tools can read it as it is.
	DefaultFile = "credentials.json"
	// UsersFile holds every user's credentials: a JSON array of objects in
	// librespot's format, least recently used first. It has the shape
	// SpotifyPlus reads from SpotifyWebApiPython_librespot_credentials.json.
	UsersFile = "credentials-users.json"
	filePerm  = 0o600
)

// Store keeps credentials in a state directory. Writes are atomic (temp file,
// fsync, rename, fsync dir) and serialised, so concurrent callers leave both
// files whole. The users file is written before the default file: after a
// crash in between, the default is the previous user and no login is lost.
type Store struct {
	dir string
	log *slog.Logger
	now func() time.Time
	mu  sync.Mutex
}

// NewStore returns a store in dir. now stamps the names of corrupt files
// moved aside.
func NewStore(dir string, log *slog.Logger, now func() time.Time) *Store {
	return &Store{dir: dir, log: log, now: now}
}

// Dir is the directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// Default returns the default login. ok is false when there is none, or the
// file was corrupt: a corrupt file is moved aside (kept) with a log line and
// the speaker falls back to waiting for a phone.
func (s *Store) Default() (c Credentials, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadDefault()
}

// List returns every stored user's credentials, the default last.
func (s *Store) List() ([]Credentials, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadAll()
}

// Get returns username's credentials (usernames compare case-insensitively,
// as Spotify's do).
func (s *Store) Get(username string) (Credentials, bool, error) {
	all, err := s.List()
	if err != nil {
		return Credentials{}, false, err
	}
	for _, c := range all {
		if strings.EqualFold(c.Username, username) {
			return c, true, nil
		}
	}
	return Credentials{}, false, nil
}

// Put stores c as the newest login and makes it the default. Invalid
// credentials are refused and nothing changes.
func (s *Store) Put(c Credentials) error {
	if err := c.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.loadAll()
	if err != nil {
		return err
	}
	all = append(without(all, c.Username), c)
	if err := s.writeUsers(all); err != nil {
		return err
	}
	return s.writeDefault(c)
}

// Forget removes username's credentials. If it was the default, the most
// recent remaining user becomes the default; with none left the default file
// is removed. found is false when no such user was stored.
func (s *Store) Forget(username string) (found bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.loadAll()
	if err != nil {
		return false, err
	}
	rest := without(all, username)
	if len(rest) == len(all) {
		return false, nil
	}
	if err := s.writeUsers(rest); err != nil {
		return true, err
	}
	if len(rest) == 0 {
		if err := os.Remove(s.path(DefaultFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return true, fmt.Errorf("remove %q: %w", s.path(DefaultFile), err)
		}
		return true, nil
	}
	return true, s.writeDefault(rest[len(rest)-1])
}

func without(all []Credentials, username string) []Credentials {
	out := make([]Credentials, 0, len(all))
	for _, c := range all {
		if !strings.EqualFold(c.Username, username) {
			out = append(out, c)
		}
	}
	return out
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name) }

// loadAll reads the users file and makes sure the default file's user is in
// the list (and last): a credentials.json copied from librespot, with no
// users file beside it, is one user.
func (s *Store) loadAll() ([]Credentials, error) {
	var all []Credentials
	b, err := os.ReadFile(s.path(UsersFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read credentials: %w", err)
	default:
		all, err = ParseList(b)
		if err != nil {
			s.moveAside(UsersFile, err)
			all = nil
		}
	}
	def, ok, err := s.loadDefault()
	if err != nil {
		return nil, err
	}
	if ok {
		all = append(without(all, def.Username), def)
	}
	return all, nil
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

func (s *Store) writeUsers(all []Credentials) error {
	b, err := MarshalList(all)
	if err != nil {
		return err
	}
	if err := statedir.WriteFileAtomic(s.path(UsersFile), b, filePerm); err != nil {
		return fmt.Errorf("store credentials list: %w", err)
	}
	return nil
}

// MarshalList encodes credentials as a JSON array of librespot objects (the
// multi-user format SpotifyPlus reads).
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
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("parse credentials list: %w", err)
	}
	out := make([]Credentials, 0, len(raw))
	for i, r := range raw {
		c, err := Parse(r)
		if err != nil {
			return nil, fmt.Errorf("credentials list entry %d: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

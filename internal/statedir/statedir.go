// Package statedir owns the speaker's one writable place: where the state
// directory is, how files in it are written (atomically, so a power cut never
// leaves half a file), and the stable device id kept there.
package statedir

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DeviceIDFile is the name of the file that holds the device id.
const DeviceIDFile = "device_id"

// Default returns the state directory to use when none is configured:
// $STATE_DIRECTORY (set by systemd's StateDirectory=), else /var/lib/speakerbox
// for root, else $XDG_STATE_HOME/speakerbox or ~/.local/state/speakerbox.
func Default(getenv func(string) string, uid int) string {
	if d := getenv("STATE_DIRECTORY"); d != "" {
		// systemd may pass several colon-separated directories; the first is ours.
		return strings.SplitN(d, ":", 2)[0]
	}
	if uid == 0 {
		return "/var/lib/speakerbox"
	}
	if x := getenv("XDG_STATE_HOME"); x != "" {
		return filepath.Join(x, "speakerbox")
	}
	home := getenv("HOME")
	if home == "" {
		home = "."
	}
	return filepath.Join(home, ".local", "state", "speakerbox")
}

// Ensure creates dir (and parents) with mode 0700 if it does not exist.
// An existing directory keeps its mode: owners may have loosened it on purpose.
func Ensure(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state directory %q: %w", dir, err)
	}
	return nil
}

// WriteFileAtomic replaces path with data so that a reader (or the next boot
// after a power cut) sees either the old file or the new one, whole: write a
// temporary file in the same directory, fsync it, rename it over path, then
// fsync the directory so the rename itself is durable.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("write %q: chmod: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %q: fsync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %q: close: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %q: rename: %w", path, err)
	}
	return syncDir(dir)
}

// tempInfix sits between the target's name and os.CreateTemp's random digits
// in the names of WriteFileAtomic's temporary files: ".<name>.tmp-<digits>".
const tempInfix = ".tmp-"

// StaleTempAge is how old a temporary file must be before RemoveStaleTemps
// takes it for a leftover. A write takes milliseconds (seconds on a slow SD
// card); anything a minute old has no writer left.
const StaleTempAge = time.Minute

// RemoveStaleTemps removes the temporary files WriteFileAtomic leaves in dir
// when the process dies between creating and renaming one (SIGKILL, power
// cut): nothing else ever would, and they pile up with every crash. Only
// regular files named as WriteFileAtomic names them and last modified
// StaleTempAge or more before now are removed, so a write still under way in
// another process (`speakerbox credentials forget` beside a running speaker)
// keeps its file. It returns the names it removed.
func RemoveStaleTemps(dir string, now time.Time) (removed []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("clean state directory %q: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !IsTempName(e.Name()) {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // renamed or removed since ReadDir
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if now.Sub(info.ModTime()) < StaleTempAge {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("clean state directory %q: %w", dir, err)
	}
	return removed, nil
}

// IsTempName reports whether name is one WriteFileAtomic gives its
// temporary files: a dot, the target's name, ".tmp-" and decimal digits.
func IsTempName(name string) bool {
	i := strings.LastIndex(name, tempInfix)
	if len(name) < 2 || name[0] != '.' || i < 2 {
		return false
	}
	digits := name[i+len(tempInfix):]
	if digits == "" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync directory %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %q: %w", dir, err)
	}
	return nil
}

// DeviceID returns the device id stored in dir, creating it on first use.
// The id is 20 random bytes in lowercase hex (40 characters), the form
// Spotify's access point expects. A file that holds anything else is an
// error rather than silently replaced: replacing it would change the
// speaker's identity in every Spotify app.
func DeviceID(dir string) (id string, created bool, err error) {
	path := filepath.Join(dir, DeviceIDFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		id = strings.TrimSpace(string(b))
		if !ValidDeviceID(id) {
			return "", false, fmt.Errorf("device id file %q holds %d bytes that are not 40 hex characters; delete it to make a new id", path, len(b))
		}
		return id, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("read device id: %w", err)
	}
	var raw [20]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", false, fmt.Errorf("generate device id: %w", err)
	}
	id = hex.EncodeToString(raw[:])
	if err := WriteFileAtomic(path, []byte(id+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("store device id: %w", err)
	}
	return id, true, nil
}

// ValidDeviceID reports whether id is 40 lowercase hex characters.
func ValidDeviceID(id string) bool {
	if len(id) != 40 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

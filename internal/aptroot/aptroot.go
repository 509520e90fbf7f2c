// Package aptroot sets up a private APT state for one Debian architecture
// under a directory of its own: the host's mirror and signing keys, none of
// its state, so packages of any architecture can be listed and downloaded
// with `apt-get` without `dpkg --add-architecture` and without changing the
// host. The hil harness fetches its kernels through it and the image
// builder its boot firmware, kernels and BusyBox.
package aptroot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Setup creates root's directories, copies the host's APT sources into it
// (through rewrite, when not nil, e.g. to add a component) and writes an
// apt.conf for arch; it returns that file's path, for APT_CONFIG.
func Setup(root, arch string, rewrite func(string) string) (string, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	for _, d := range []string{"state/lists/partial", "cache/archives/partial", "sources.list.d", "apt.conf.d", "preferences.d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return "", fmt.Errorf("create APT state for %s: %w", arch, err)
		}
	}
	// The host's sources, so the same mirror (and its signing keys) serve
	// every architecture.
	srcs, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	lists, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	srcs = append(srcs, lists...)
	if _, err := os.Stat("/etc/apt/sources.list"); err == nil {
		srcs = append(srcs, "/etc/apt/sources.list")
	}
	if len(srcs) == 0 {
		return "", errors.New("the host has no APT sources in /etc/apt to copy")
	}
	for _, s := range srcs {
		b, err := os.ReadFile(s)
		if err != nil {
			return "", fmt.Errorf("read APT source: %w", err)
		}
		name := filepath.Base(s)
		if name == "sources.list" {
			name = "host.list"
		}
		text := string(b)
		if rewrite != nil {
			text = rewrite(text)
		}
		if err := os.WriteFile(filepath.Join(root, "sources.list.d", name), []byte(text), 0o644); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(root, "state/status"), nil, 0o644); err != nil {
		return "", err
	}
	p := filepath.Join(root, "apt.conf")
	return p, os.WriteFile(p, []byte(Conf(root, arch)), 0o644)
}

// Conf is the apt.conf of a private state at root (an absolute path) for
// arch: every directory APT reads or writes is under root, and the host's
// own lists, preferences and configuration parts are not read.
func Conf(root, arch string) string {
	return fmt.Sprintf(`APT::Architecture "%[2]s";
APT::Architectures { "%[2]s"; };
Dir::State "%[1]s/state";
Dir::State::status "%[1]s/state/status";
Dir::Cache "%[1]s/cache";
Dir::Etc::SourceList "/dev/null";
Dir::Etc::SourceParts "%[1]s/sources.list.d";
Dir::Etc::Parts "%[1]s/apt.conf.d";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "%[1]s/preferences.d";
Acquire::Languages "none";
`, root, arch)
}

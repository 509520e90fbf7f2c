package aptroot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetup: the sources are the host's, passed through rewrite; every
// directory apt.conf names is inside root; the host's state is not read.
func TestSetup(t *testing.T) {
	if _, err := os.Stat("/etc/apt"); err != nil {
		t.Fatalf("this test reads the host's APT sources: %v", err)
	}
	root := t.TempDir()
	conf, err := Setup(root, "armhf", func(s string) string { return "# rewritten\n" + s })
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	c := string(b)
	for _, want := range []string{`APT::Architecture "armhf";`, `Dir::State "` + root + `/state";`, `Dir::Etc::SourceList "/dev/null";`, `Dir::Etc::Preferences "/dev/null";`} {
		if !strings.Contains(c, want) {
			t.Errorf("apt.conf lacks %s:\n%s", want, c)
		}
	}
	for _, line := range strings.Split(c, "\n") {
		if i := strings.IndexByte(line, '"'); i >= 0 && strings.HasPrefix(line, "Dir::") {
			if p := strings.Trim(line[i:], `";`); p != "/dev/null" && !strings.HasPrefix(p, root) {
				t.Errorf("%s points outside the private state", line)
			}
		}
	}
	srcs, _ := filepath.Glob(filepath.Join(root, "sources.list.d", "*"))
	if len(srcs) == 0 {
		t.Fatal("no sources copied")
	}
	for _, s := range srcs {
		b, _ := os.ReadFile(s)
		if !strings.HasPrefix(string(b), "# rewritten\n") {
			t.Errorf("%s did not go through rewrite", s)
		}
	}
	for _, d := range []string{"state/lists/partial", "cache/archives/partial", "state/status"} {
		if _, err := os.Stat(filepath.Join(root, d)); err != nil {
			t.Error(err)
		}
	}
}

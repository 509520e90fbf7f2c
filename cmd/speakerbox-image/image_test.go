package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/speakerbox/speakerbox/cmd/speakerbox-image/internal/disk"
)

// TestConfigTxt: the onboard audio is on and each common DAC HAT has one
// commented line to switch it on, on every board.
func TestConfigTxt(t *testing.T) {
	for name, b := range boards {
		c := b.configTxt()
		if !regexp.MustCompile(`(?m)^dtparam=audio=on$`).MatchString(c) {
			t.Errorf("%s: onboard audio not on:\n%s", name, c)
		}
		for _, ov := range []string{"hifiberry-dac", "hifiberry-dacplus", "hifiberry-amp", "iqaudio-dacplus", "justboom-dac"} {
			if n := len(regexp.MustCompile(`(?m)^#dtoverlay=`+ov+`$`).FindAllString(c, -1)); n != 1 {
				t.Errorf("%s: %d commented lines for %s, want 1", name, n, ov)
			}
		}
		if regexp.MustCompile(`(?m)^dtoverlay=`).MatchString(c) {
			t.Errorf("%s: a DAC overlay is switched on by default", name)
		}
		for _, want := range []string{"kernel=vmlinuz", "initramfs initrd.img followkernel", "enable_uart=1"} {
			if !strings.Contains(c, want) {
				t.Errorf("%s: config.txt lacks %q", name, want)
			}
		}
		if (b.arch == "arm64") != strings.Contains(c, "arm_64bit=1") {
			t.Errorf("%s (%s): arm_64bit=1 set wrongly", name, b.arch)
		}
	}
}

// TestCmdlineMatchesLayout: cmdline.txt names root slot A, the fstab of
// the overlay mounts partition 4 at the state directory and the boot
// partition as p1, and the layout puts them there.
func TestCmdlineMatchesLayout(t *testing.T) {
	l, err := disk.Plan(sizes)
	if err != nil {
		t.Fatal(err)
	}
	idx := map[string]int{}
	for i, p := range l.Parts {
		idx[p.Name] = i + 1
	}
	fstab, err := os.ReadFile("../../buildroot/board/speakerbox/rootfs-overlay/etc/fstab")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		part, mount string
	}{{"boot", "/boot"}, {"data", "/var/lib/speakerbox"}} {
		re := regexp.MustCompile(`(?m)^/dev/mmcblk0p(\d)\s+` + regexp.QuoteMeta(m.mount) + `\s`)
		got := re.FindStringSubmatch(string(fstab))
		if got == nil || got[1] != string(rune('0'+idx[m.part])) {
			t.Errorf("fstab mounts %v at %s; the layout has %s as partition %d", got, m.mount, m.part, idx[m.part])
		}
	}
	for name, b := range boards {
		c := b.cmdline()
		if strings.Count(c, "\n") != 1 || !strings.HasSuffix(c, "\n") {
			t.Errorf("%s: cmdline.txt must be one line: %q", name, c)
		}
		if !strings.Contains(c, "root=/dev/mmcblk0p"+string(rune('0'+idx["root-a"]))+" ") || !strings.Contains(c, "rootfstype=squashfs ro") {
			t.Errorf("%s: cmdline %q does not name root slot A read-only", name, c)
		}
		// The last console is /dev/console: the serial one, where the
		// shell and `make hil` are.
		cons := regexp.MustCompile(`console=(\S+)`).FindAllStringSubmatch(c, -1)
		if len(cons) == 0 || cons[len(cons)-1][1] != b.console {
			t.Errorf("%s: last console in %q is not %s", name, c, b.console)
		}
	}
}

// TestLayoutFitsAndIsPowerOfTwo: the card as built is a power of two with
// the data partition at least as asked.
func TestLayoutFitsAndIsPowerOfTwo(t *testing.T) {
	l, err := disk.Plan(sizes)
	if err != nil {
		t.Fatal(err)
	}
	if l.Size&(l.Size-1) != 0 {
		t.Errorf("card of %d bytes is not a power of two", l.Size)
	}
	if l.Parts[3].Size < sizes.Data || l.Parts[1].Size != l.Parts[2].Size {
		t.Errorf("layout %+v", l.Parts)
	}
}

func TestWithFirmwareAddsComponent(t *testing.T) {
	for in, want := range map[string]string{
		"Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n":           "Components: main non-free-firmware\n",
		"Components: main non-free-firmware\n":                                                           "Components: main non-free-firmware\n",
		"deb http://deb.debian.org/debian bookworm main\n":                                               "deb http://deb.debian.org/debian bookworm main non-free-firmware\n",
		"deb [signed-by=/usr/share/keyrings/k.gpg] http://deb.debian.org/debian bookworm main contrib\n": "main contrib non-free-firmware\n",
		"# deb http://deb.debian.org/debian bookworm main\n":                                             "# deb http://deb.debian.org/debian bookworm main\n",
	} {
		if got := withFirmware(in); !strings.HasSuffix(got, want) {
			t.Errorf("withFirmware(%q) = %q, want it to end %q", in, got, want)
		}
	}
}

// TestSettingsValidated: the builder runs the speaker's own validator on
// the card's settings file; the example passes and a broken copy stops the
// build with the key and the line.
func TestSettingsValidated(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("go not in PATH")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "speakerbox")
	build := exec.Command("go", "build", "-o", bin, "../speakerbox")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build speakerbox: %v\n%s", err, out)
	}
	example := "../../buildroot/board/speakerbox/boot/speakerbox.txt"
	if err := validateSettings(context.Background(), bin, example); err != nil {
		t.Fatalf("the example is refused: %v", err)
	}
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "speakerbox.txt")
	lines := strings.Count(string(b), "\n")
	if err := os.WriteFile(bad, append(b, "relay_active_low = maybe\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	err = validateSettings(context.Background(), bin, bad)
	if err == nil {
		t.Fatal("a bad settings file passed")
	}
	if !strings.Contains(err.Error(), "relay_active_low") || !regexp.MustCompile(`\b`+strconv.Itoa(lines+1)+`\b`).MatchString(err.Error()) {
		t.Errorf("error does not name the key and line %d: %v", lines+1, err)
	}
}

package buildroot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataScript runs S10data under BusyBox in a temporary root, with
// mount replaced (MOUNT_CMD) by a fake that records its arguments and
// "mounts" by appending to a fake mount table (MOUNTS), so nothing on the
// host is mounted.
func TestDataScript(t *testing.T) {
	for _, c := range []struct {
		name string
		// table is the mount table at start; retry is whether the fake
		// mount of the data partition succeeds.
		table string
		retry bool
		calls string // the mount commands run, one per line
		tmpfs bool
	}{
		{"mounted by mount -a", "/dev/mmcblk0p4 /var/lib/speakerbox ext4 rw 0 0\n", false, "", false},
		{"mounts on the second try", "", true, "/var/lib/speakerbox\n", false},
		{"fails: RAM for this boot", "", false, "/var/lib/speakerbox\n-t tmpfs -o mode=0700,size=8m,nosuid,nodev,noexec tmpfs /var/lib/speakerbox\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newScriptRoot(t)
			copyFile(t, filepath.Join(overlay, "etc/init.d/S10data"), filepath.Join(r.dir, "etc/init.d/S10data"))
			mounts := filepath.Join(r.dir, "fake-mounts")
			calls := filepath.Join(r.dir, "fake-calls")
			logged := filepath.Join(r.dir, "fake-log")
			if err := os.WriteFile(mounts, []byte(c.table), 0o644); err != nil {
				t.Fatal(err)
			}
			ok := "exit 1"
			if c.retry {
				ok = "echo \"/dev/mmcblk0p4 $1 ext4 rw 0 0\" >>" + mounts
			}
			fake := "#!" + r.busybox + " sh\n" +
				"echo \"$*\" >>" + calls + "\n" +
				"case $1 in\n" +
				"-t) echo \"tmpfs $6 tmpfs rw 0 0\" >>" + mounts + " ;;\n" +
				"*) " + ok + " ;;\n" +
				"esac\n"
			mount := filepath.Join(r.dir, "fake-mount")
			if err := os.WriteFile(mount, []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
			r.env = append(r.env, "MOUNT_CMD="+mount, "MOUNTS="+mounts, "LOG_CMD=tee "+logged)
			out, code := r.run("etc/init.d/S10data", "start")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, out)
			}
			got, _ := os.ReadFile(calls)
			if string(got) != c.calls {
				t.Errorf("mount calls %q, want %q", got, c.calls)
			}
			log, _ := os.ReadFile(logged)
			said := strings.Contains(out, "running from RAM for this boot") && strings.Contains(string(log), "check or replace the SD card")
			if said != c.tmpfs {
				t.Errorf("told the owner about RAM: %v, want %v (output %q, log %q)", said, c.tmpfs, out, log)
			}
			table, _ := os.ReadFile(mounts)
			if !strings.Contains(string(table), " /var/lib/speakerbox ") {
				t.Errorf("the state directory is not mounted after start: %q", table)
			}
		})
	}
}

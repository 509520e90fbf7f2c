package vm

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestArgsNeverKVM(t *testing.T) {
	for _, m := range []Machine{PC, Virt, Raspi3B} {
		_, args, err := Args(Spec{Machine: m, Kernel: "k", Initrd: "i", DTB: "d", Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		line := strings.Join(args, " ")
		if !strings.Contains(line, "-accel tcg") || strings.Contains(line, "kvm") {
			t.Errorf("%s: %s", m, line)
		}
	}
}

func TestArgsNetworkIsRestricted(t *testing.T) {
	_, args, err := Args(Spec{Machine: Virt, Kernel: "k", Initrd: "i", HostFwd: "tcp:127.0.0.1:5000-:4070"})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.Index(args, "-netdev")
	if i < 0 || !strings.Contains(args[i+1], "restrict=on") {
		t.Fatalf("netdev not restricted: %q", args)
	}
	if _, _, err := Args(Spec{Machine: Raspi3B, DTB: "d", HostFwd: "x"}); err == nil {
		t.Fatal("raspi3b with network accepted")
	}
}

func TestArgsConsole(t *testing.T) {
	for m, want := range map[Machine]string{PC: "console=ttyS0", Virt: "console=ttyAMA0", Raspi3B: "console=ttyS1"} {
		_, args, _ := Args(Spec{Machine: m, DTB: "d", Append: "x=1"})
		app := args[slices.Index(args, "-append")+1]
		if !strings.HasPrefix(app, want) || !strings.HasSuffix(app, "x=1") {
			t.Errorf("%s: -append %q", m, app)
		}
	}
}

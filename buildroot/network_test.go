package buildroot

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// netRoot is a temporary root for S40network under BusyBox, with fakes
// for ip, udhcpc, modprobe, wpa_supplicant and wpa_cli that record their
// arguments (one line per call, the fake's name first) instead of touching
// the host's network.
type netRoot struct {
	*scriptRoot
	calls, logged string
}

// netFakes says how the fakes behave.
type netFakes struct {
	driverMakesWlan0 bool   // modprobe brcmfmac makes sys/class/net/wlan0
	wpaFails         bool   // wpa_supplicant exits 1 with a message
	wpaState         string // wpa_cli status's wpa_state
	noWpaSupplicant  bool   // the card has no wpa_supplicant
}

func newNetRoot(t *testing.T, f netFakes) *netRoot {
	r := &netRoot{scriptRoot: newScriptRoot(t)}
	copyFile(t, filepath.Join(overlay, "etc/init.d/S40network"), filepath.Join(r.dir, "etc/init.d/S40network"))
	for _, d := range []string{"sys/class/net", "run/speakerbox", "fakes"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r.calls = filepath.Join(r.dir, "fake-calls")
	r.logged = filepath.Join(r.dir, "fake-log")
	record := "#!" + r.busybox + " sh\necho \"${0##*/} $*\" >>" + r.calls + "\n"
	wlan0 := ""
	if f.driverMakesWlan0 {
		wlan0 = "[ \"$1\" = brcmfmac ] && mkdir -p " + filepath.Join(r.dir, "sys/class/net/wlan0") + "\n"
	}
	wpa := "exit 0\n"
	if f.wpaFails {
		wpa = "echo 'Failed to open config file'\necho 'line two'\nexit 1\n"
	}
	fakes := map[string]string{
		"ip":       record,
		"udhcpc":   record,
		"modprobe": record + wlan0,
		"wpa_cli":  record + "echo 'bssid=02:00:00:00:01:00'\necho 'wpa_state=" + f.wpaState + "'\n",
	}
	if !f.noWpaSupplicant {
		fakes["wpa_supplicant"] = record + wpa
	}
	for name, body := range fakes {
		if err := os.WriteFile(filepath.Join(r.dir, "fakes", name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fake := func(n string) string { return filepath.Join(r.dir, "fakes", n) }
	wpaCmd := fake("wpa_supplicant")
	if f.noWpaSupplicant {
		wpaCmd = "wpa_supplicant" // looked up in PATH: BusyBox only
	}
	r.env = append(r.env, "IP_CMD="+fake("ip"), "UDHCPC_CMD="+fake("udhcpc"), "MODPROBE_CMD="+fake("modprobe"),
		"WPA_SUPPLICANT_CMD="+wpaCmd, "WPA_CLI_CMD="+fake("wpa_cli"), "LOG_CMD=tee -a "+r.logged,
		"SETTINGS_WAIT=0", "WLAN_WAIT=0", "ASSOC_WAIT=0")
	return r
}

func (r *netRoot) imported(withWifi bool) {
	r.t.Helper()
	if withWifi {
		if err := os.WriteFile(filepath.Join(r.dir, "var/lib/speakerbox/wpa_supplicant.conf"), []byte("network={\n}\n"), 0o600); err != nil {
			r.t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(r.dir, "run/speakerbox/firstboot.done"), nil, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *netRoot) read(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// TestNetworkWifi runs S40network's Wi-Fi bring-up (the `wifi` action,
// which start runs in the background) through each way it can end, and
// checks what it ran and what it told the log.
func TestNetworkWifi(t *testing.T) {
	for _, c := range []struct {
		name   string
		fakes  netFakes
		wifi   bool // the import wrote a wpa_supplicant.conf
		code   int
		calls  []string // regexps, in order, each matching one line
		absent string   // a fake that must not have run
		log    string
	}{
		{"joins", netFakes{driverMakesWlan0: true, wpaState: "COMPLETED"}, true, 0,
			[]string{`^modprobe brcmfmac$`, `^ip link set wlan0 up$`,
				`^wpa_supplicant -B -s -i wlan0 -c \S+/var/lib/speakerbox/wpa_supplicant.conf -P \S+/run/network/wpa_supplicant.pid$`,
				`^wpa_cli -p \S+/run/wpa_supplicant -i wlan0 status$`, `^udhcpc -i wlan0 -b -S -R -s \S+/etc/speakerbox/udhcpc.script `}, "",
			"network: Wi-Fi associated; asking for an address (DHCP)\n"},
		{"no Wi-Fi in the settings", netFakes{driverMakesWlan0: true}, false, 0, nil, "modprobe",
			"network: no Wi-Fi network in the settings (wifi_ssid in speakerbox.txt on the boot partition); Wi-Fi not started\n"},
		{"no wpa_supplicant on the card", netFakes{driverMakesWlan0: true, noWpaSupplicant: true}, true, 1, nil, "modprobe",
			"network: Wi-Fi not started: wpa_supplicant is not on this card (cards from an older make image lack it; use Ethernet or flash a new card)\n"},
		{"no wlan0", netFakes{}, true, 1, []string{`^modprobe brcmfmac$`}, "wpa_supplicant",
			"network: Wi-Fi not started: no wlan0 after 0 s (a Pi without Wi-Fi, or its firmware did not load: dmesg | grep brcmfmac)\n"},
		{"wpa_supplicant fails", netFakes{driverMakesWlan0: true, wpaFails: true}, true, 1, []string{`^modprobe brcmfmac$`, `^wpa_supplicant `}, "udhcpc",
			"network: Wi-Fi not started: wpa_supplicant failed: Failed to open config file line two\n"},
		{"no association", netFakes{driverMakesWlan0: true, wpaState: "SCANNING"}, true, 1, []string{`^wpa_supplicant `, `^wpa_cli `, `^udhcpc -i wlan0 `}, "",
			"network: Wi-Fi not associated after 0 s (state SCANNING): check wifi_ssid, wifi_passphrase and wifi_country in speakerbox.txt, and that the network is in range; wpa_supplicant keeps trying\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newNetRoot(t, c.fakes)
			r.imported(c.wifi)
			out, code := r.run("etc/init.d/S40network", "wifi")
			if code != c.code {
				t.Errorf("exit %d, want %d: %s", code, c.code, out)
			}
			if got := r.read(r.logged); got != c.log {
				t.Errorf("log:\n%q\nwant\n%q", got, c.log)
			}
			calls := strings.Split(strings.TrimSpace(r.read(r.calls)), "\n")
			i := 0
			for _, l := range calls {
				if i < len(c.calls) && regexp.MustCompile(c.calls[i]).MatchString(l) {
					i++
				}
			}
			if i < len(c.calls) {
				t.Errorf("calls %q: %q not in order after the first %d", calls, c.calls[i], i)
			}
			if c.absent != "" {
				for _, l := range calls {
					if strings.HasPrefix(l, c.absent+" ") {
						t.Errorf("%s ran: %q", c.absent, l)
					}
				}
			}
		})
	}
}

// TestNetworkWifiWaitsForImport: on a first boot the Wi-Fi settings exist
// only once S95speakerbox has run `speakerbox firstboot`, after S40network;
// the bring-up waits for the import, then joins with what it wrote.
func TestNetworkWifiWaitsForImport(t *testing.T) {
	r := newNetRoot(t, netFakes{driverMakesWlan0: true, wpaState: "COMPLETED"})
	r.env = append(r.env, "SETTINGS_WAIT=60")
	cmd := exec.Command(r.busybox, "sh", filepath.Join(r.dir, "etc/init.d/S40network"), "wifi")
	cmd.Env = r.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Nothing runs while the import has not finished.
	if err := os.WriteFile(filepath.Join(r.dir, "var/lib/speakerbox/wpa_supplicant.conf"), []byte("network={\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := r.read(r.calls); got != "" {
		t.Errorf("ran before the import finished: %q", got)
	}
	r.imported(false)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if got := r.read(r.logged); got != "network: Wi-Fi associated; asking for an address (DHCP)\n" {
		t.Errorf("log %q", got)
	}

	// A settings import that never finishes (S95speakerbox missing or
	// stuck): said, and the settings imported on an earlier boot used.
	r2 := newNetRoot(t, netFakes{driverMakesWlan0: true, wpaState: "COMPLETED"})
	if err := os.WriteFile(filepath.Join(r2.dir, "var/lib/speakerbox/wpa_supplicant.conf"), []byte("network={\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := r2.run("etc/init.d/S40network", "wifi"); code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	want := "network: the settings import did not finish within 0 s; using the Wi-Fi settings imported before, if any\nnetwork: Wi-Fi associated; asking for an address (DHCP)\n"
	if got := r2.read(r2.logged); got != want {
		t.Errorf("log %q, want %q", got, want)
	}
}

// TestNetworkStart: start asks for a lease on Ethernet at once and returns
// while Wi-Fi comes up in the background; stop ends what start began.
func TestNetworkStart(t *testing.T) {
	r := newNetRoot(t, netFakes{driverMakesWlan0: true, wpaState: "COMPLETED"})
	if err := os.MkdirAll(filepath.Join(r.dir, "sys/class/net/eth0"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.env = append(r.env, "SETTINGS_WAIT=60")
	if out, code := r.run("etc/init.d/S40network", "start"); code != 0 {
		t.Fatalf("start: exit %d: %s", code, out)
	}
	calls := r.read(r.calls)
	if !regexp.MustCompile(`(?m)^ip link set lo up\nudhcpc -i eth0 -b -S -R -s \S+ -p \S+/run/network/udhcpc.eth0.pid -x hostname:\S+\n$`).MatchString(calls) {
		t.Errorf("start ran %q; want lo up and DHCP on eth0 only (Wi-Fi waits for the import)", calls)
	}
	r.imported(true)
	deadline := time.Now().Add(30 * time.Second)
	// DHCP on wlan0 is the bring-up's last step.
	for !strings.Contains(r.read(r.calls), "udhcpc -i wlan0 ") {
		if time.Now().After(deadline) {
			t.Fatalf("the background Wi-Fi bring-up did not finish; log %q, calls %q", r.read(r.logged), r.read(r.calls))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := r.read(r.logged); got != "network: Wi-Fi associated; asking for an address (DHCP)\n" {
		t.Errorf("log %q", got)
	}
}

// TestNetworkLogTag: the script's log lines carry a tag with "speakerbox"
// in it: `speakerbox doctor report` keeps the logread lines that contain
// that word (cmd/speakerbox systemLogs), so the owner's report has them.
func TestNetworkLogTag(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(overlay, "etc/init.d/S40network"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^LOG_CMD=\$\{LOG_CMD:-logger -t speakerbox-network `).Match(b) {
		t.Error("S40network does not log with the tag speakerbox-network by default")
	}
}

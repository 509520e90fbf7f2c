package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/speakerbox/speakerbox/internal/kmod"
)

// The Wi-Fi join (check 7-wifi-join, one board): QEMU's Pi machines have no
// Wi-Fi chip, so the test copy of the card carries mac80211_hwsim (two
// simulated radios) on its boot partition; the guest makes wlan1 a WPA2-PSK
// access point (the card's own wpa_supplicant in AP mode, BusyBox udhcpd),
// and the card joins it on wlan0 the way it would at home: the settings
// file's wifi_ssid and passphrase, imported by firstboot, brought up by
// S40network. Only the test copy gets these modules; the card as built
// never has them.

// wifiJoinBoard is the board that joins. One is enough (the scripts and
// wpa_supplicant's code are the same on every board), and pi3 boots
// fastest under TCG.
const wifiJoinBoard = "pi3"

const (
	hilSSID       = "hil-speakerbox"
	hilPassphrase = "hil-passphrase-1234"
)

// wifiSettings are the lines the joining board's speakerbox.txt adds.
func wifiSettings(board string) string {
	if board != wifiJoinBoard {
		return ""
	}
	return "wifi_country = GB\nwifi_ssid = " + hilSSID + "\nwifi_passphrase = " + hilPassphrase + "\n"
}

// hwsimModules are what the join loads, with what they depend on: the
// simulated radios and the kernel's CCMP (brcmfmac does its crypto in the
// chip's firmware, so the card has no need of these).
var hwsimModules = []string{"mac80211_hwsim", "ccm", "ctr", "cmac", "gcm", "libarc4"}

// hwsimFiles copies the modules of every cached kernel of arch into
// dir/<kver>/ with an order file, dependencies first, so the guest loads
// the set that matches `uname -r`.
func hwsimFiles(arch, dir string) error {
	trees, _ := filepath.Glob(filepath.Join(".cache/image", "apt-"+arch, "trees", "linux-image-*", "lib/modules/*"))
	if len(trees) == 0 {
		return fmt.Errorf("no %s kernel in .cache/image (run `make images`)", arch)
	}
	for _, t := range trees {
		tree, err := kmod.Open(t)
		if err != nil {
			return err
		}
		ms, err := tree.Resolve(hwsimModules...)
		if err != nil {
			return fmt.Errorf("hwsim modules in %s: %w", t, err)
		}
		out := filepath.Join(dir, filepath.Base(t))
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		var order strings.Builder
		for _, m := range ms {
			b, err := os.ReadFile(m.Path)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, filepath.Base(m.Path)), b, 0o644); err != nil {
				return err
			}
			order.WriteString(strings.TrimSuffix(filepath.Base(m.Path), ".ko") + "\n")
		}
		if err := os.WriteFile(filepath.Join(out, "order"), []byte(order.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// wifiJoinCmd runs in the guest once S40network has given up on wlan0
// (7-wifi waited for that line).
const wifiJoinCmd = `d=/boot/hwsim/$(uname -r); for m in $(cat $d/order); do a=; [ $m = mac80211_hwsim ] && a=radios=2; insmod $d/$m.ko $a 2>/dev/null; done; ` +
	`i=0; until [ -e /sys/class/net/wlan1 ]; do i=$((i+1)); [ $i -gt 100 ] && break; usleep 100000; done; ls /sys/class/net | tr '\n' ' '; echo; ` +
	`ip link set wlan1 up && ip addr add 192.168.77.1/24 dev wlan1; ` +
	`printf 'ctrl_interface=/run/hil-ap\nnetwork={\n\tssid="` + hilSSID + `"\n\tmode=2\n\tfrequency=2412\n\tkey_mgmt=WPA-PSK\n\tproto=RSN\n\tpairwise=CCMP\n\tgroup=CCMP\n\tpsk="` + hilPassphrase + `"\n}\n' >/tmp/ap.conf; ` +
	`wpa_supplicant -B -D nl80211 -i wlan1 -c /tmp/ap.conf -P /tmp/ap.pid >/tmp/ap.log 2>&1; echo ap=$?; ` +
	`printf 'start 192.168.77.10\nend 192.168.77.20\ninterface wlan1\nlease_file /tmp/udhcpd.leases\npidfile /tmp/udhcpd.pid\noption subnet 255.255.255.0\n' >/tmp/udhcpd.conf; touch /tmp/udhcpd.leases; udhcpd /tmp/udhcpd.conf; echo udhcpd=$?; ` +
	`/etc/init.d/S40network wifi; echo join=$?; ` +
	`i=0; until ip -4 addr show wlan0 | grep -q 'inet 192.168.77.'; do i=$((i+1)); [ $i -gt 300 ] && break; usleep 100000; done; ` +
	`a=$(ip -4 addr show wlan0 | sed -n 's/.*inet \(192[0-9.]*\).*/\1/p'); echo wlan0-addr=$a; ` +
	`RUN_ARGS=--zeroconf.interfaces=wlan0 /etc/init.d/S95speakerbox restart >/dev/null; ` +
	`rm -f /tmp/winfo; i=0; until wget -q -O /tmp/winfo "http://$a:4070/?action=getInfo"; do i=$((i+1)); [ $i -gt 500 ] && break; usleep 200000; done; cat /tmp/winfo 2>/dev/null; echo; ` +
	`logread | grep speakerbox-network | tail -n 2; { cat /tmp/ap.log; wpa_cli -p /run/wpa_supplicant -i wlan0 status | grep wpa_state; } | tail -n 4`

// runWifiJoin is the join, timed from the modules' load to getInfo's
// answer on the wlan0 address.
func (c *cardRun) runWifiJoin(ctx context.Context, sh *shell) error {
	from := sh.mark()
	out, _, err := sh.run(ctx, wifiJoinCmd, 200*time.Second)
	if err != nil {
		return err
	}
	took := sh.timeOf(sh.mark() - 1).Sub(sh.timeOf(from))
	ok, detail := evalWifiJoin(out)
	c.check("7-wifi-join", ok, fmt.Sprintf("%s; %v from loading mac80211_hwsim", detail, took.Round(100*time.Millisecond)), out)
	return nil
}

var wlanAddrRE = regexp.MustCompile(`(?m)^wlan0-addr=(192\.168\.77\.\d+)$`)

func evalWifiJoin(out []string) (bool, string) {
	all := strings.Join(out, "\n")
	ap := strings.Contains(all, "ap=0") && strings.Contains(all, "udhcpd=0")
	joined := strings.Contains(all, "join=0") && strings.Contains(all, "network: Wi-Fi associated")
	m := wlanAddrRE.FindStringSubmatch(all)
	info, ierr := parseInfo(out)
	ok := ap && joined && m != nil && ierr == nil && info.DeviceID != ""
	addr := "none"
	if m != nil {
		addr = m[1]
	}
	return ok, fmt.Sprintf("AP on wlan1 up (%v); the card joined %q with WPA2-PSK through speakerbox.txt and S40network (%v), DHCP lease %s on wlan0, getInfo there: %v",
		ap, hilSSID, joined, addr, orErr(info.DeviceID != "", ierr))
}

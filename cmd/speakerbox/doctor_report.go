package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"periph.io/x/conn/v3/driver/driverreg"

	"github.com/speakerbox/speakerbox/gpio/line"
	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/internal/redact"
	"github.com/speakerbox/speakerbox/internal/statedir"
	"github.com/speakerbox/speakerbox/zeroconfsrv"
)

// The diagnostic report: one text file an owner attaches to a bug report.
// It must never carry a secret: configuration values are masked as in
// --print-config and beyond it (hook command lines, any key named like a
// secret), credentials are shown as shortened usernames and types only,
// and at the end every secret value the speaker knows (credentials' auth
// data, hooks.env values, the API token) is replaced wherever it still
// appears and every stored username is shortened, log lines included.

// reportLogLines is how many of the newest log lines the report carries.
const reportLogLines = 200

// reportSources is what the report reads beside the configuration and the
// machine. Fields left nil take the defaults of the `doctor report`
// command, which runs beside the speaker in a process of its own; a
// running speaker (the web page's download) passes its own.
type reportSources struct {
	// Logs returns up to n of the newest log lines and says where they
	// came from. Default: systemLogs (the journal, else BusyBox's logread).
	Logs func(ctx context.Context, n int) (lines []string, from string, err error)
	// ZeroconfAddrs lists the addresses the ZeroConf API listens on (a
	// running server's Addrs). Default: found from the configuration, and
	// from the kernel's socket table when zeroconf.port is 0.
	ZeroconfAddrs func(ctx context.Context) ([]netip.AddrPort, error)
	// Interfaces lists the network interfaces (default: the system's).
	Interfaces func() ([]zeroconfsrv.Iface, error)
	// Counters writes the speaker's counters; nil: none in this process.
	Counters func(w io.Writer) error
	// Running: the report is made inside the running speaker. The audio
	// device is then neither probed nor opened (the player owns it, and a
	// check at the moment it opens would make its open fail as busy): the
	// audio section lists the cards only.
	Running bool
	// Progress, if set, is told the name of each section as it starts.
	Progress func(section string)
	Now      func() time.Time
}

func (src *reportSources) withDefaults(a *app) {
	if src.Logs == nil {
		src.Logs = systemLogs
	}
	if src.Interfaces == nil {
		src.Interfaces = zeroconfsrv.SystemInterfaces
	}
	if src.ZeroconfAddrs == nil {
		src.ZeroconfAddrs = func(ctx context.Context) ([]netip.AddrPort, error) {
			return findZeroconfAddrs(ctx, a, src.Interfaces)
		}
	}
	if src.Progress == nil {
		src.Progress = func(string) {}
	}
	if src.Now == nil {
		src.Now = time.Now
	}
}

// writeReport writes the whole report to w. It changes nothing: no file
// is written (the state directory is read, never created), the relay line
// is looked up but never requested, the audio device is opened once to
// check it as `doctor audio` does. Secrets are scrubbed before anything
// reaches w.
func writeReport(ctx context.Context, w io.Writer, a *app, src reportSources) error {
	src.withDefaults(a)
	var b bytes.Buffer
	sec := func(name string) {
		src.Progress(name)
		fmt.Fprintf(&b, "\n== %s ==\n", name)
	}
	fmt.Fprintf(&b, "speakerbox diagnostic report, %s\n", src.Now().UTC().Format(time.RFC3339))
	fmt.Fprintln(&b, "Secrets are masked and usernames shortened; check before you share it all the same.")

	sec("version and build")
	reportBuild(&b)

	sec("configuration")
	reportConfig(&b, a)

	sec("state directory")
	users, secrets := reportState(&b, a.cfg.StateDir)
	secrets = append(secrets, configSecrets(a)...)

	sec("audio")
	ra := *a
	ra.stdout = &b
	if src.Running {
		reportCardsOnly(&b, a)
	} else {
		reportTopic(ctx, &b, &ra, doctorAudio)
	}

	sec("mixer")
	reportMixer(&b, a)

	sec("gpio")
	reportTopic(ctx, &b, &ra, doctorGPIO)
	reportGPIOChips(&b)

	sec("network interfaces")
	ifs, ifErr := src.Interfaces()
	reportInterfaces(&b, a, ifs, ifErr)

	sec("zeroconf reachability")
	reportReachability(ctx, &b, a, src)

	sec(fmt.Sprintf("log (last %d lines)", reportLogLines))
	lines, from, err := src.Logs(ctx, reportLogLines)
	if err != nil {
		fmt.Fprintf(&b, "no log: %v\n", err)
	} else {
		fmt.Fprintf(&b, "from %s, %d lines\n", from, len(lines))
		for _, l := range lines {
			b.WriteString(strings.TrimRight(l, "\n"))
			b.WriteByte('\n')
		}
	}

	sec("counters")
	switch {
	case src.Counters == nil && src.Running:
		fmt.Fprintln(&b, "not available in this build")
	case src.Counters == nil:
		fmt.Fprintln(&b, "not available: the local API is off (api.address), so the running speaker's counters cannot be asked for (the web page's report has them)")
	default:
		if err := src.Counters(&b); err != nil {
			fmt.Fprintf(&b, "counters: %v\n", err)
		}
	}

	_, err = io.WriteString(w, scrubReport(b.String(), users, secrets))
	return err
}

func reportBuild(w io.Writer) {
	arch := runtime.GOARCH
	fmt.Fprintf(w, "speakerbox %s, %s, %s/%s\n", version, runtime.Version(), runtime.GOOS, arch)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "GOARM", "CGO_ENABLED", "-trimpath", "vcs.revision", "vcs.time", "vcs.modified":
				fmt.Fprintf(w, "build %s=%s\n", s.Key, s.Value)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		fmt.Fprintf(w, "kernel %s\n", strings.TrimSpace(string(b)))
	}
	if b, err := os.ReadFile("/proc/device-tree/model"); err == nil {
		fmt.Fprintf(w, "board %s\n", strings.TrimRight(string(b), "\x00\n"))
	}
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if s, err := strconv.ParseFloat(f[0], 64); err == nil {
				fmt.Fprintf(w, "uptime %s\n", (time.Duration(s) * time.Second).String())
			}
		}
	}
}

// secretKeyWords mark a configuration key whose value is masked whatever
// the key table says: a key added later (api.token) is safe from the start.
var secretKeyWords = []string{"token", "password", "passphrase", "secret", "psk"}

// commandKeys hold command lines, which may carry a credential inline
// (curl -H "Authorization: ..."): only the program is shown.
var commandKeys = []string{"hooks.on_event", "hooks.amp_on_command", "hooks.amp_off_command"}

// reportConfig is --print-config with more masked.
func reportConfig(w io.Writer, a *app) {
	var b strings.Builder
	a.loaded.Print(&b)
	for _, l := range strings.SplitAfter(b.String(), "\n") {
		if l == "" {
			continue
		}
		key, rest, ok := strings.Cut(l, ": ")
		if ok && !strings.HasPrefix(key, "#") {
			val, source, _ := strings.Cut(rest, "  # ")
			val = strings.TrimSpace(val)
			switch {
			case slices.Contains(commandKeys, key) && val != `""`:
				prog := ""
				if s, err := strconv.Unquote(val); err == nil {
					if f := strings.Fields(s); len(f) > 0 {
						prog = f[0]
					}
				}
				l = fmt.Sprintf("%s: %q (arguments masked)  # %s", key, prog+" ***", strings.TrimSpace(source)) + "\n"
			case isSecretKey(key) && val != `""` && val != "[]":
				l = fmt.Sprintf("%s: \"***\"  # %s\n", key, strings.TrimSpace(source))
			}
		}
		io.WriteString(w, l)
	}
}

func isSecretKey(key string) bool {
	last := key[strings.LastIndex(key, ".")+1:]
	for _, word := range secretKeyWords {
		if strings.Contains(last, word) {
			return true
		}
	}
	return false
}

// configSecrets are the secret values of the configuration, scrubbed from
// the whole report wherever they still appear (a hook that logged its
// token, say).
func configSecrets(a *app) []string {
	var out []string
	for _, kv := range a.cfg.Hooks.Env {
		if _, v, ok := strings.Cut(kv, "="); ok {
			out = append(out, v)
		}
	}
	if a.cfg.API.Token != "" {
		out = append(out, a.cfg.API.Token)
	}
	return out
}

// reportState lists the state directory without reading what is secret
// into the report: file names, sizes and modes, the device id, and the
// stored logins as shortened usernames and types. It returns the full
// usernames and the credentials' secrets for the scrubber. It reads only:
// a missing directory is reported, not made.
func reportState(w io.Writer, dir string) (users, secrets []string) {
	fmt.Fprintf(w, "path %s\n", dir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		fmt.Fprintf(w, "cannot read: %v\n", err)
		return nil, nil
	}
	if fi, err := os.Stat(dir); err == nil {
		fmt.Fprintf(w, "mode %v\n", fi.Mode().Perm())
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			continue
		}
		fmt.Fprintf(w, "  %-28s %8d bytes  %v  %s\n", e.Name(), info.Size(), info.Mode().Perm(), info.ModTime().UTC().Format(time.RFC3339))
	}
	if b, err := os.ReadFile(filepath.Join(dir, statedir.DeviceIDFile)); err == nil {
		id := strings.TrimSpace(string(b))
		if statedir.ValidDeviceID(id) {
			fmt.Fprintf(w, "device id %s\n", id)
		} else {
			fmt.Fprintf(w, "device id file is not valid (%d bytes)\n", len(b))
		}
	}
	var all []creds.Credentials
	if b, err := os.ReadFile(filepath.Join(dir, creds.UsersFile)); err == nil {
		list, err := creds.ParseList(b)
		if err != nil {
			fmt.Fprintf(w, "%s: cannot parse: %v\n", creds.UsersFile, err)
		}
		all = append(all, list...)
		// The base64 form, as the file holds it, is a secret too.
		secrets = append(secrets, rawAuthData(b)...)
	}
	if b, err := os.ReadFile(filepath.Join(dir, creds.DefaultFile)); err == nil {
		if c, err := creds.Parse(b); err == nil {
			fmt.Fprintf(w, "default login (%s): %s, %s\n", creds.DefaultFile, redact.Username(c.Username), c.AuthType)
			all = append(all, c)
		} else {
			fmt.Fprintf(w, "%s: cannot parse: %v\n", creds.DefaultFile, err)
		}
		secrets = append(secrets, rawAuthData(b)...)
	}
	fmt.Fprintf(w, "stored logins: %d (%s, then %s)\n", len(all), creds.UsersFile, creds.DefaultFile)
	for _, c := range all {
		fmt.Fprintf(w, "  %s (%s, %d bytes of auth data)\n", redact.Username(c.Username), c.AuthType, len(c.AuthData))
		users = append(users, c.Username)
		secrets = append(secrets, string(c.AuthData))
	}
	return users, secrets
}

// rawAuthData returns every "auth_data" string in a JSON document, at any
// depth, parsed or not by the store's own rules: whatever the report says
// of a damaged file, its secrets are scrubbed.
func rawAuthData(b []byte) []string {
	var doc any
	if json.Unmarshal(b, &doc) != nil {
		return nil
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "auth_data" {
					out = append(out, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	return out
}

// reportTopic runs a doctor topic into the report (its output already
// goes to a.stdout, the report).
func reportTopic(ctx context.Context, w io.Writer, a *app, topic func(*flag.FlagSet) runFunc) {
	run := topic(flag.NewFlagSet("report", flag.ContinueOnError))
	err := run(ctx, a, nil)
	var na *notApplicable
	switch {
	case err == nil:
	case errors.As(err, &na):
		fmt.Fprintln(w, na.Error())
	default:
		fmt.Fprintf(w, "PROBLEM: %v\n", err)
	}
}

// reportCardsOnly is the audio section of a running speaker's report.
func reportCardsOnly(w io.Writer, a *app) {
	if b, err := os.ReadFile("/proc/asound/cards"); err == nil {
		fmt.Fprintf(w, "ALSA cards (/proc/asound/cards):\n%s", b)
	} else {
		fmt.Fprintf(w, "ALSA: no /proc/asound/cards (%v)\n", err)
	}
	fmt.Fprintf(w, "configured: %s\n", a.cfg.Audio.Describe())
	fmt.Fprintln(w, "device capabilities not probed: the running speaker owns the device ('speakerbox doctor report' with the speaker stopped lists them)")
}

func reportMixer(w io.Writer, a *app) {
	au := a.cfg.Audio
	if au.Mixer == "" {
		fmt.Fprintln(w, "software volume (audio.mixer is empty)")
	} else {
		fmt.Fprintf(w, "hardware volume on control %q of %s (the audio section lists the card's controls)\n", au.Mixer, au.Device)
	}
	fmt.Fprintf(w, "volume curve %s, range %g dB, max %d %%, initial %d %%\n", au.VolumeCurve, au.VolumeRangeDB, au.MaxVolume, au.InitialVolume)
}

// reportGPIOChips lists the GPIO chips (name, label, line count): read
// through the character device's chip info, no line is requested.
func reportGPIOChips(w io.Writer) {
	if err := initGPIODriver(); err != nil {
		fmt.Fprintf(w, "GPIO chips: %v\n", err)
		return
	}
	if len(line.Chips()) == 0 {
		fmt.Fprintln(w, "GPIO chips: none found (is /dev/gpiochip* present and readable by this user?)")
		return
	}
	fmt.Fprintln(w, "GPIO chips (lines in use by some program, as the kernel said when the chips were read):")
	type consumed interface {
		Name() string
		Consumer() string
	}
	for _, c := range line.Chips() {
		fmt.Fprintf(w, "  %s (label %q, %d lines)\n", c.Name(), c.Label(), c.LineCount())
		for n := range c.LineCount() {
			if l, ok := c.Line(n).(consumed); ok && l.Consumer() != "" {
				fmt.Fprintf(w, "    line %d %q: used by %q\n", n, l.Name(), l.Consumer())
			}
		}
	}
}

func reportInterfaces(w io.Writer, a *app, ifs []zeroconfsrv.Iface, err error) {
	if err != nil {
		fmt.Fprintf(w, "cannot list: %v\n", err)
		return
	}
	chosen := map[string]bool{}
	for _, ifc := range zeroconfsrv.SelectInterfaces(ifs, a.cfg.Zeroconf.Interfaces) {
		chosen[ifc.Name] = true
	}
	for _, ifc := range ifs {
		adv := ""
		if chosen[ifc.Name] {
			adv = ", advertised"
		}
		fmt.Fprintf(w, "%s (index %d): %s%s\n", ifc.Name, ifc.Index, flagWords(ifc.Flags), adv)
		for _, ad := range ifc.Addrs {
			fmt.Fprintf(w, "  %s\n", ad)
		}
	}
	if len(chosen) == 0 {
		fmt.Fprintf(w, "no interface is advertised (zeroconf.interfaces %q): phones cannot find the speaker\n", a.cfg.Zeroconf.Interfaces)
	}
}

func flagWords(f net.Flags) string {
	var out []string
	for _, x := range []struct {
		f    net.Flags
		name string
	}{{net.FlagUp, "up"}, {net.FlagRunning, "running"}, {net.FlagLoopback, "loopback"}, {net.FlagMulticast, "multicast"}, {net.FlagBroadcast, "broadcast"}, {net.FlagPointToPoint, "point-to-point"}} {
		if f&x.f != 0 {
			out = append(out, x.name)
		} else if x.f == net.FlagUp {
			out = append(out, "down")
		} else if x.f == net.FlagMulticast {
			out = append(out, "no multicast")
		}
	}
	return strings.Join(out, ", ")
}

// reportReachability connects to the ZeroConf API on each address it
// listens on and asks getInfo, as a phone would: our own host only.
func reportReachability(ctx context.Context, w io.Writer, a *app, src reportSources) {
	addrs, err := src.ZeroconfAddrs(ctx)
	if err != nil {
		fmt.Fprintf(w, "cannot tell where the API listens: %v\n", err)
	}
	if len(addrs) == 0 {
		fmt.Fprintln(w, "no ZeroConf API listener found on the advertised addresses (is the speaker running?)")
		return
	}
	id := ""
	if b, err := os.ReadFile(filepath.Join(a.cfg.StateDir, statedir.DeviceIDFile)); err == nil {
		id = strings.TrimSpace(string(b))
	}
	for _, ap := range addrs {
		fmt.Fprintf(w, "%s: %s\n", ap, probeGetInfo(ctx, ap, id))
	}
}

// getInfoAnswer is what the report reads of a getInfo answer.
type getInfoAnswer struct {
	Status     int    `json:"status"`
	RemoteName string `json:"remoteName"`
	DeviceID   string `json:"deviceID"`
	ActiveUser string `json:"activeUser"`
}

// probeGetInfo is one TCP connect and getInfo GET, bounded in time.
func probeGetInfo(ctx context.Context, ap netip.AddrPort, deviceID string) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	start := time.Now()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", ap.String())
	if err != nil {
		return fmt.Sprintf("NOT reachable: %v", err)
	}
	connected := time.Since(start)
	client := &http.Client{Transport: &http.Transport{
		Proxy:       nil,
		DialContext: func(context.Context, string, string) (net.Conn, error) { return c, nil },
	}}
	defer client.CloseIdleConnections()
	host := ap.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/?action=getInfo", nil)
	if err != nil {
		c.Close()
		return fmt.Sprintf("bad address: %v", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Sprintf("TCP connect ok in %v, getInfo failed: %v", connected.Round(time.Millisecond), err)
	}
	defer resp.Body.Close()
	var gi getInfoAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&gi); err != nil {
		return fmt.Sprintf("TCP connect ok, getInfo HTTP %d, not a ZeroConf answer: %v", resp.StatusCode, err)
	}
	ours := "a different device id (not this speaker?)"
	if deviceID != "" && gi.DeviceID == deviceID {
		ours = "this speaker's device id"
	}
	active := "no active user"
	if gi.ActiveUser != "" {
		active = "active user " + redact.Username(gi.ActiveUser)
	}
	return fmt.Sprintf("reachable: TCP connect %v, getInfo HTTP %d status %d, name %q, %s, %s",
		connected.Round(time.Millisecond), resp.StatusCode, gi.Status, gi.RemoteName, ours, active)
}

// findZeroconfAddrs finds where a speaker running beside this command
// listens: the advertised addresses at zeroconf.port, or, when the port is
// chosen at run time (0), the listening TCP sockets the kernel has on
// those addresses whose getInfo answers with this speaker's device id.
func findZeroconfAddrs(ctx context.Context, a *app, interfaces func() ([]zeroconfsrv.Iface, error)) ([]netip.AddrPort, error) {
	ifs, err := interfaces()
	if err != nil {
		return nil, err
	}
	want := map[netip.Addr]bool{}
	for _, ifc := range zeroconfsrv.SelectInterfaces(ifs, a.cfg.Zeroconf.Interfaces) {
		for _, ad := range ifc.Addrs {
			want[ad.WithZone("")] = true
		}
	}
	var out []netip.AddrPort
	if p := a.cfg.Zeroconf.Port; p != 0 {
		for ad := range want {
			out = append(out, netip.AddrPortFrom(ad, uint16(p)))
		}
	} else {
		var listening []netip.AddrPort
		for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			listening = append(listening, parseProcNetListeners(b)...)
		}
		id := ""
		if b, err := os.ReadFile(filepath.Join(a.cfg.StateDir, statedir.DeviceIDFile)); err == nil {
			id = strings.TrimSpace(string(b))
		}
		for _, ap := range listening {
			if !want[ap.Addr()] || id == "" {
				continue
			}
			if strings.Contains(probeGetInfo(ctx, ap, id), "this speaker's device id") {
				out = append(out, ap)
			}
		}
	}
	// Link-local IPv6 addresses need their zone to be dialled.
	zones := map[netip.Addr]string{}
	for _, ifc := range ifs {
		for _, ad := range ifc.Addrs {
			if ad.Is6() && ad.IsLinkLocalUnicast() {
				zones[ad.WithZone("")] = ifc.Name
			}
		}
	}
	for i, ap := range out {
		if z, ok := zones[ap.Addr()]; ok {
			out[i] = netip.AddrPortFrom(ap.Addr().WithZone(z), ap.Port())
		}
	}
	slices.SortFunc(out, func(x, y netip.AddrPort) int { return x.Compare(y) })
	return slices.Compact(out), nil
}

// parseProcNetListeners reads /proc/net/tcp or tcp6: the local addresses
// of sockets in LISTEN state (st 0A). Addresses are hex, in 32-bit words
// of host byte order (little endian on every target we build for).
func parseProcNetListeners(b []byte) []netip.AddrPort {
	var out []netip.AddrPort
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) < 4 || f[3] != "0A" {
			continue
		}
		hexAddr, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			continue
		}
		raw := make([]byte, len(hexAddr)/2)
		if len(hexAddr)%8 != 0 || (len(raw) != 4 && len(raw) != 16) {
			continue
		}
		bad := false
		for w := 0; w < len(raw)/4; w++ {
			v, err := strconv.ParseUint(hexAddr[w*8:w*8+8], 16, 32)
			if err != nil {
				bad = true
				break
			}
			raw[w*4], raw[w*4+1], raw[w*4+2], raw[w*4+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		}
		if bad {
			continue
		}
		ad, _ := netip.AddrFromSlice(raw)
		out = append(out, netip.AddrPortFrom(ad.Unmap(), uint16(port)))
	}
	return out
}

// systemLogs reads the speaker's newest log lines from where the system
// keeps them. The speaker writes no log file of its own (it logs to
// standard error, and the image keeps nothing on the card): under systemd
// that is the journal (readable by root and the adm and systemd-journal
// groups), under the image's BusyBox init the syslog ring in RAM that
// logread shows.
func systemLogs(ctx context.Context, n int) ([]string, string, error) {
	var errs []error
	if p, err := exec.LookPath("journalctl"); err == nil {
		out, err := exec.CommandContext(ctx, p, "--unit", "speakerbox.service", "--lines", strconv.Itoa(n), "--no-pager", "--output", "short-iso", "--quiet").Output()
		lines := nonEmptyLines(out)
		switch {
		case err == nil && len(lines) > 0:
			return lines, "journalctl --unit speakerbox.service", nil
		case err == nil:
			// Nothing, or nothing this user may read: journalctl says
			// neither.
			errs = append(errs, errors.New("journalctl shows no line of speakerbox.service (not run under systemd here, or this user may not read the system journal)"))
		default:
			errs = append(errs, fmt.Errorf("journalctl: %w", err))
		}
	}
	if p, err := exec.LookPath("logread"); err == nil {
		out, err := exec.CommandContext(ctx, p).Output()
		if err == nil {
			var ours []string
			for _, l := range nonEmptyLines(out) {
				if strings.Contains(l, "speakerbox") {
					ours = append(ours, l)
				}
			}
			return ours[max(0, len(ours)-n):], "logread (BusyBox syslog)", nil
		}
		errs = append(errs, fmt.Errorf("logread: %w", err))
	}
	if len(errs) == 0 {
		return nil, "", errors.New("neither journalctl nor logread is installed; the speaker logs to standard error only")
	}
	return nil, "", fmt.Errorf("no log lines found (run the report as root, or in the adm or systemd-journal group): %w", errors.Join(errs...))
}

func nonEmptyLines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// minScrub is the shortest secret scrubbed from the whole text: a shorter
// one would mangle ordinary words, and is masked where it is configured.
const minScrub = 4

// scrubReport replaces every secret with *** and every stored username
// with its shortened form, wherever they appear.
func scrubReport(s string, users, secrets []string) string {
	var pairs []string
	// Longest first: a secret that contains another is replaced whole.
	all := slices.Clone(secrets)
	slices.SortFunc(all, func(x, y string) int { return len(y) - len(x) })
	for _, v := range slices.Compact(all) {
		if len(v) >= minScrub {
			pairs = append(pairs, v, "***")
		}
	}
	us := slices.Clone(users)
	slices.SortFunc(us, func(x, y string) int { return len(y) - len(x) })
	for _, u := range slices.Compact(us) {
		if short := redact.Username(u); len(u) >= 2 && short != u {
			pairs = append(pairs, u, short)
		}
	}
	if len(pairs) == 0 {
		return s
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// doctorReport is `speakerbox doctor report [--output FILE]`.
func doctorReport(fs *flag.FlagSet) runFunc {
	output := fs.String("output", "", "file to write (default: speakerbox-report-DATE.txt in the current directory)")
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) > 0 {
			return usagef("doctor report takes no arguments, got %q", args)
		}
		now := time.Now()
		path := *output
		if path == "" {
			path = "speakerbox-report-" + now.UTC().Format("20060102-150405") + ".txt"
		}
		var b bytes.Buffer
		err := writeReport(ctx, &b, a, reportSources{
			Now:      func() time.Time { return now },
			Progress: func(s string) { fmt.Fprintf(a.stderr, "collecting: %s\n", s) },
			Counters: runningCounters(a),
		})
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		// 0600: it names devices, addresses and the device id.
		if err := statedir.WriteFileAtomic(path, b.Bytes(), 0o600); err != nil {
			return fmt.Errorf("write report %q: %w", path, err)
		}
		fmt.Fprintf(a.stderr, "report written: %s (%d bytes); attach it to your bug report\n", path, b.Len())
		fmt.Fprintln(a.stdout, path)
		return nil
	}
}

// initGPIODriver loads periph's drivers as line.Open does (gpioioctl is
// registered by gpio/line's import), so that line.Chips lists the chips.
func initGPIODriver() error {
	if _, err := driverreg.Init(); err != nil {
		return fmt.Errorf("load GPIO character-device driver: %w", err)
	}
	return nil
}

// speakerReport is the report of the running speaker, for the web page's
// download (GET /report, branch web): the speaker's own newest log lines
// and the addresses its ZeroConf API listens on now. counters may be nil
// (the metrics branch can pass a writer of its counters).
func speakerReport(a *app, zc *zeroconfsrv.Server, counters func(io.Writer) error) func(ctx context.Context, w io.Writer) error {
	return func(ctx context.Context, w io.Writer) error {
		return writeReport(ctx, w, a, reportSources{
			Running:       true,
			Logs:          a.logs.Lines,
			ZeroconfAddrs: func(context.Context) ([]netip.AddrPort, error) { return zc.Addrs(), nil },
			Counters:      counters,
		})
	}
}

// runningCounters asks the running speaker for its counters, through its
// local API's /metrics (on loopback when api.address binds every
// interface, with api.token when one is set), keeping the speaker's own
// series. nil when the API is off.
func runningCounters(a *app) func(io.Writer) error {
	c := a.cfg.API
	if !c.Enabled() {
		return nil
	}
	return func(w io.Writer) error {
		host, port, err := net.SplitHostPort(c.Address)
		if err != nil {
			return fmt.Errorf("api.address %q: %w", c.Address, err)
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/metrics", nil)
		if err != nil {
			return err
		}
		if c.Token != "" {
			req.Header.Set("Authorization", "Bearer "+c.Token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("the running speaker's counters (is it running?): %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("the running speaker's counters: GET /metrics answered %s", resp.Status)
		}
		sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "speakerbox_") {
				if _, err := fmt.Fprintln(w, line); err != nil {
					return err
				}
			}
		}
		return sc.Err()
	}
}

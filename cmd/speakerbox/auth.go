package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	devicespb "github.com/devgianlu/go-librespot/proto/spotify/connectstate/devices"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/internal/statedir"
	"github.com/speakerbox/speakerbox/zeroconfsrv"
)

// authCommand is librespot-auth's workflow in our binary: advertise a
// temporary device, take the first valid addUser and save its credentials
// in librespot's format, for controllers (SpotifyPlus, Music Assistant) or
// another librespot-based player.
func authCommand() *command {
	return &command{
		name:     "auth",
		summary:  "advertise a temporary device and save the credentials a phone hands it (librespot format)",
		noConfig: true, // a standalone tool: it touches neither the speaker's configuration nor its state
		setup: func(fs *flag.FlagSet) runFunc {
			name := fs.String("name", "Speakerbox Auth", "device `NAME` shown in the Spotify apps (default \"Speakerbox Auth\")")
			path := fs.String("path", "credentials.json", "`FILE` to write the credentials to, mode 0600 (default credentials.json)")
			class := fs.String("class", "speaker", "device `CLASS`: computer, tablet, smartphone, speaker, tv, avr, stb, audiodongle, gameconsole, castaudio, castvideo, automobile, smartwatch, chromebook, carthing, homething (default speaker)")
			timeout := fs.Duration("timeout", 0, "give up after `D` (e.g. 5m) and exit 1; 0 waits until interrupted")
			port := fs.Int("port", 0, "TCP `PORT` of the temporary ZeroConf API (0: any free port)")
			ifaces := fs.String("interfaces", "", "comma-separated network `INTERFACES` to advertise on (empty: every up, multicast-capable, non-loopback interface)")
			model := fs.String("model", "librespot", "`MODEL` reported as modelDisplayName (default librespot: see README)")
			return func(ctx context.Context, a *app, args []string) error {
				if len(args) > 0 {
					return usagef("auth takes no arguments, got %q", args)
				}
				devType, err := zeroconfsrv.ParseDeviceType(*class)
				switch {
				case err != nil:
					return usagef("--class: %v", err)
				case strings.TrimSpace(*name) == "":
					return usagef("--name must not be empty")
				case *path == "":
					return usagef("--path must not be empty")
				case *timeout < 0:
					return usagef("--timeout must not be negative, got %s", *timeout)
				case *port < 0 || *port > 65535:
					return usagef("--port must be 0..65535, got %d", *port)
				}
				// Fail now rather than after a phone has sent its login.
				if st, err := os.Stat(filepath.Dir(*path)); err != nil || !st.IsDir() {
					return usagef("--path %q: directory %q does not exist", *path, filepath.Dir(*path))
				}
				var names []string
				for _, n := range strings.Split(*ifaces, ",") {
					if n = strings.TrimSpace(n); n != "" {
						names = append(names, n)
					}
				}
				return runAuth(ctx, a, authOptions{name: *name, path: *path, devType: devType, timeout: *timeout, port: *port, ifaces: names, model: *model})
			}
		},
	}
}

type authOptions struct {
	name    string
	path    string
	devType devicespb.DeviceType
	timeout time.Duration
	port    int
	ifaces  []string
	model   string
}

func runAuth(ctx context.Context, a *app, o authOptions) error {
	// A temporary device gets a throwaway identity: the inner blob is bound
	// to it, the saved credentials are not.
	var raw [20]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return fmt.Errorf("auth: device id: %w", err)
	}
	sink := &firstLogin{path: o.path, got: make(chan creds.Credentials, 1)}
	srv, err := zeroconfsrv.New(zeroconfsrv.Config{
		Handler: zeroconfsrv.HandlerConfig{
			Info: zeroconfsrv.Info{
				Name: o.name, DeviceType: o.devType, DeviceID: hex.EncodeToString(raw[:]),
				Model: o.model, LibraryVersion: "speakerbox " + version,
			},
			Logger: a.log,
		},
		Port:       o.port,
		Interfaces: o.ifaces,
	}, sink, sink)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(runCtx) }()
	defer func() { stop(); <-done }() // goodbye before we exit

	fmt.Fprintf(a.stdout, "Open Spotify and select output device: %s\n", o.name)
	var expired <-chan time.Time
	if o.timeout > 0 {
		t := time.NewTimer(o.timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-sink.got:
		fmt.Fprintf(a.stdout, "Credentials saved: %s\n", o.path)
		return nil
	case <-expired:
		return fmt.Errorf("auth: no phone selected %q within %s; nothing was saved", o.name, o.timeout)
	case <-ctx.Done():
		return errors.New("auth: interrupted; nothing was saved")
	}
}

// firstLogin is the credential store and receiver of `speakerbox auth`: it
// writes the first valid login to path and refuses any later one, so the
// file holds exactly the first phone's credentials.
type firstLogin struct {
	path string
	got  chan creds.Credentials
	mu   sync.Mutex
	done bool
}

func (f *firstLogin) Put(c creds.Credentials) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return errors.New("credentials already saved")
	}
	b, err := c.Marshal()
	if err != nil {
		return err
	}
	if err := statedir.WriteFileAtomic(f.path, b, 0o600); err != nil {
		return err
	}
	f.done = true
	return nil
}

func (f *firstLogin) Forget(string) (bool, error) { return false, nil }

func (f *firstLogin) OnLogin(_ context.Context, c creds.Credentials) {
	select {
	case f.got <- c:
	default:
	}
}

func (f *firstLogin) OnReset(context.Context) {}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/speakerbox/speakerbox/internal/creds"
)

func credentialsCommand() *command {
	return &command{
		name:    "credentials",
		args:    "list | forget USER | export [--user U] [--format librespot|spotifyplus]",
		summary: "list, forget or export the Spotify credentials stored in the state directory",
		// export has options of its own.
		subOptions: true,
		setup: func(fs *flag.FlagSet) runFunc {
			return func(ctx context.Context, a *app, args []string) error {
				if len(args) == 0 {
					return usagef("credentials: say list, forget USER or export")
				}
				store := creds.NewStore(a.cfg.StateDir, a.log, time.Now)
				switch args[0] {
				case "list":
					if len(args) > 1 {
						return usagef("credentials list takes no arguments")
					}
					return credentialsList(store, a.stdout)
				case "forget":
					if len(args) != 2 || args[1] == "" {
						return usagef("credentials forget takes one USER")
					}
					found, err := store.Forget(args[1])
					if err != nil {
						return fmt.Errorf("credentials forget: %w", err)
					}
					if !found {
						return fmt.Errorf("credentials forget: no stored credentials for user %q", args[1])
					}
					fmt.Fprintf(a.stdout, "Forgot the credentials of %s\n", args[1])
					return nil
				case "export":
					efs := flag.NewFlagSet("speakerbox credentials export", flag.ContinueOnError)
					efs.SetOutput(a.stderr)
					user := efs.String("user", "", "export only `USER` (default: the default user for librespot, everyone for spotifyplus)")
					format := efs.String("format", "librespot", "`FORMAT`: librespot (one credentials.json object) or spotifyplus (the array SpotifyPlus reads from SpotifyWebApiPython_librespot_credentials.json)")
					rest, err := parseArgs(efs, args[1:], false)
					if errors.Is(err, errHelp) {
						optionsUsage(a.stdout, efs)
						return nil
					}
					if err != nil {
						return err
					}
					if len(rest) > 0 {
						return usagef("credentials export takes no arguments, got %q", rest)
					}
					return credentialsExport(store, a.stdout, *user, *format)
				default:
					return usagef("credentials: unknown action %q; say list, forget USER or export", args[0])
				}
			}
		},
	}
}

// credentialsList prints users, never secrets: whether Spotify has accepted
// each login, when it was last used, and which one the speaker tries first.
func credentialsList(store *creds.Store, w io.Writer) error {
	all, err := store.List()
	if err != nil {
		return fmt.Errorf("credentials list: %w", err)
	}
	if len(all) == 0 {
		fmt.Fprintf(w, "No stored credentials in %s\n", store.Dir())
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tAUTH TYPE\tSPOTIFY\tLAST USED\t")
	for i, e := range all {
		status := "verified"
		if !e.Verified {
			status = "unverified"
		}
		used := "-"
		if !e.LastUsed.IsZero() {
			used = e.LastUsed.UTC().Format("2006-01-02 15:04 UTC")
		}
		mark := ""
		if i == len(all)-1 {
			mark = "default"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Username, e.AuthType, status, used, mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "\nverified: Spotify accepted the login (up to %d kept, the least recently used dropped first)\n"+
		"unverified: handed over by a phone, not accepted by Spotify yet (up to %d kept, the newest)\n"+
		"default: tried first when the speaker starts\n", creds.MaxVerified, creds.MaxUnverified)
	return err
}

// onePerUser keeps each user's preferred login (verified over unverified,
// then the newer), in the store's order.
func onePerUser(all []creds.Entry) []creds.Credentials {
	pick := map[string]int{}
	for i, e := range all {
		k := strings.ToLower(e.Username)
		if j, ok := pick[k]; !ok || e.Verified || !all[j].Verified {
			pick[k] = i
		}
	}
	var out []creds.Credentials
	for i, e := range all {
		if pick[strings.ToLower(e.Username)] == i {
			out = append(out, e.Credentials)
		}
	}
	return out
}

// credentialsExport writes librespot's format (one login: --user's, else
// the newest verified, else the newest) or SpotifyPlus's (every user once,
// a verified login preferred).
func credentialsExport(store *creds.Store, w io.Writer, user, format string) error {
	if format != "librespot" && format != "spotifyplus" {
		return usagef("credentials export: --format must be librespot or spotifyplus, got %q", format)
	}
	all, err := store.List()
	if err != nil {
		return fmt.Errorf("credentials export: %w", err)
	}
	var sel []creds.Credentials
	switch {
	case user != "":
		e, ok, _ := creds.Preferred(all, user)
		if !ok {
			return fmt.Errorf("credentials export: no stored credentials for user %q", user)
		}
		sel = []creds.Credentials{e.Credentials}
	case len(all) == 0:
		return errors.New("credentials export: no stored credentials; select this speaker in a Spotify app first")
	case format == "spotifyplus":
		sel = onePerUser(all)
	default:
		sel = []creds.Credentials{all[len(all)-1].Credentials}
		for i := len(all) - 1; i >= 0; i-- {
			if all[i].Verified {
				sel[0] = all[i].Credentials
				break
			}
		}
	}
	var out []byte
	if format == "librespot" {
		out, err = sel[0].Marshal()
	} else {
		out, err = creds.MarshalList(sel)
	}
	if err != nil {
		return fmt.Errorf("credentials export: %w", err)
	}
	_, err = w.Write(out)
	return err
}

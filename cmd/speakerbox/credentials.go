package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/speakerbox/speakerbox/zeroconfsrv/creds"
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

func authTypeName(t int) string {
	switch t {
	case creds.AuthStoredSpotify:
		return "stored"
	case creds.AuthStoredFacebook:
		return "stored-facebook"
	case creds.AuthSpotifyToken:
		return "token"
	case creds.AuthFacebookToken:
		return "facebook-token"
	}
	return fmt.Sprintf("type-%d", t)
}

// credentialsList prints users, never secrets.
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
	fmt.Fprintln(tw, "USER\tAUTH TYPE\t")
	for i, c := range all {
		mark := ""
		if i == len(all)-1 {
			mark = "default"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Username, authTypeName(c.AuthType), mark)
	}
	return tw.Flush()
}

func credentialsExport(store *creds.Store, w io.Writer, user, format string) error {
	var sel []creds.Credentials
	if user != "" {
		c, ok, err := store.Get(user)
		if err != nil {
			return fmt.Errorf("credentials export: %w", err)
		}
		if !ok {
			return fmt.Errorf("credentials export: no stored credentials for user %q", user)
		}
		sel = []creds.Credentials{c}
	} else {
		all, err := store.List()
		if err != nil {
			return fmt.Errorf("credentials export: %w", err)
		}
		if len(all) == 0 {
			return errors.New("credentials export: no stored credentials; select this speaker in a Spotify app first")
		}
		sel = all
	}
	var out []byte
	var err error
	switch format {
	case "librespot":
		out, err = sel[len(sel)-1].Marshal() // the default (last) user
	case "spotifyplus":
		out, err = creds.MarshalList(sel)
	default:
		return usagef("credentials export: --format must be librespot or spotifyplus, got %q", format)
	}
	if err != nil {
		return fmt.Errorf("credentials export: %w", err)
	}
	_, err = w.Write(out)
	return err
}

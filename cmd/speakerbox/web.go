package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/localapi"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/logring"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/webui"
	"github.com/speakerbox/speakerbox/internal/creds"
)

// logRingLines is how many log lines the web page can show.
const logRingLines = 200

// withLogRing makes log also keep its last lines in ring, for the web
// page's log. The lines are formatted for a person: time of day, level,
// message and attributes.
func withLogRing(log *slog.Logger, ring *logring.Ring) *slog.Logger {
	short := slog.NewTextHandler(ring, &slog.HandlerOptions{
		Level: slog.LevelDebug, // the main handler decides (teeHandler.Enabled)
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.String(slog.TimeKey, a.Value.Time().Format("15:04:05"))
			}
			return a
		},
	})
	return slog.New(teeHandler{main: log.Handler(), ring: short})
}

// teeHandler sends every record the main handler takes to the ring too.
type teeHandler struct{ main, ring slog.Handler }

func (h teeHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.main.Enabled(ctx, l) }

func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.main.Handle(ctx, r.Clone())
	_ = h.ring.Handle(ctx, r) // the ring never fails
	return err
}

func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{main: h.main.WithAttrs(as), ring: h.ring.WithAttrs(as)}
}

func (h teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{main: h.main.WithGroup(name), ring: h.ring.WithGroup(name)}
}

// ownerParts are the web page and its routes for the local API (issue 14).
// logout logs the current user out (the ZeroConf resetUsers action); the
// caller sets Apply for the settings that can change while running.
func (a *app) ownerParts(store *creds.Store, logout func(ctx context.Context) error) (localapi.Owner, error) {
	page, err := webui.New()
	if err != nil {
		return localapi.Owner{}, err
	}
	o := localapi.Owner{
		Page:        page,
		PagePaths:   page.Paths(),
		Settings:    config.NewEditor(a.loaded, defaultConfigPath),
		Credentials: credentialList{store},
		Logout:      logout,
		Report:      a.basicReport,
	}
	if a.logs != nil {
		o.Log = a.logs.Lines
	}
	return o, nil
}

// credentialList adapts the credentials store to the API: users, never
// their secrets.
type credentialList struct{ s *creds.Store }

func (c credentialList) Users() ([]localapi.StoredUser, error) {
	all, err := c.s.List()
	if err != nil {
		return nil, err
	}
	out := make([]localapi.StoredUser, len(all))
	for i, e := range all {
		out[i] = localapi.StoredUser{Username: e.Username, Verified: e.Verified, LastUsed: e.LastUsed}
	}
	return out, nil
}

func (c credentialList) Forget(username string) (bool, error) { return c.s.Forget(username) }

// basicReport is the diagnostic report the page downloads until `speakerbox
// doctor report` (branch sysd) takes its place as Owner.Report: version,
// the effective configuration (secrets masked) and the last log lines.
func (a *app) basicReport(_ context.Context, w io.Writer) error {
	fmt.Fprintf(w, "speakerbox %s (%s, %s/%s) report of %s\n\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH,
		time.Now().UTC().Format(time.RFC3339))
	if a.loaded != nil {
		fmt.Fprintln(w, "## configuration")
		a.loaded.Print(w)
		fmt.Fprintln(w)
	}
	if a.logs != nil {
		fmt.Fprintln(w, "## last log lines")
		for _, l := range a.logs.Lines() {
			fmt.Fprintln(w, l)
		}
	}
	return nil
}

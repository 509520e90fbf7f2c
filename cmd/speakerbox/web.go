package main

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/localapi"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/webui"
	"github.com/speakerbox/speakerbox/internal/creds"
)

// ownerParts are the web page and its routes for the local API (issue 14).
// logout logs the current user out (the ZeroConf resetUsers action),
// report writes the diagnostic report; the caller sets Apply for the
// settings that can change while running.
func (a *app) ownerParts(store *creds.Store, logout func(context.Context) error, report func(context.Context, io.Writer) error) (localapi.Owner, error) {
	page, err := webui.New()
	if err != nil {
		return localapi.Owner{}, err
	}
	// A part left nil answers 503 on its routes.
	o := localapi.Owner{Page: page, PagePaths: page.Paths(), Logout: logout, Report: report}
	if a.loaded != nil {
		o.Settings = config.NewEditor(a.loaded)
	}
	if store != nil {
		o.Credentials = credentialList{store}
	}
	if a.logs != nil {
		// The speaker's own newest lines (logring.go), as the report has
		// them.
		o.Log = func() []string {
			lines, _, _ := a.logs.Lines(context.Background(), reportLogLines)
			return lines
		}
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

// report is the running speaker's diagnostic report (speakerReport,
// doctor_report.go) for GET /report, once the ZeroConf server is wired.
func (l *localAPI) report(ctx context.Context, w io.Writer) error {
	l.mu.Lock()
	zc, m := l.zeroconf, l.metrics
	l.mu.Unlock()
	if zc == nil {
		return fmt.Errorf("the diagnostic report: %w", localapi.ErrUnavailable)
	}
	var counters func(io.Writer) error
	if m != nil {
		// The speaker's own series, as /metrics shows them.
		counters = func(w io.Writer) error {
			c := m.Counters()
			names := make([]string, 0, len(c))
			for n := range c {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				if _, err := fmt.Fprintf(w, "%s %g\n", n, c[n]); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return speakerReport(l.a, zc, counters)(ctx, w)
}

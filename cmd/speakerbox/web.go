package main

import (
	"context"
	"io"

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
	o := localapi.Owner{
		Page:        page,
		PagePaths:   page.Paths(),
		Settings:    config.NewEditor(a.loaded, defaultConfigPath),
		Credentials: credentialList{store},
		Logout:      logout,
		Report:      report,
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

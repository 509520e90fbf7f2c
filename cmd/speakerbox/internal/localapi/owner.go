package localapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
	"github.com/speakerbox/speakerbox/internal/redact"
)

// Owner is what the owner's web page needs beyond status and control (issue
// 14). Each part may be nil: its routes then answer 503, and the page says
// so.
type Owner struct {
	// Page serves the page's files (webui.Handler). They hold no secret,
	// so GET and HEAD of PagePaths go without the token: a browser cannot
	// send one when it opens the page, and the page asks for it.
	Page      http.Handler
	PagePaths []string
	// Settings is the editor of the page's settings (config.NewEditor):
	// saved in the state directory, over the configuration file.
	Settings SettingsEditor
	// Apply, by key, puts a saved setting into effect at once; a saved key
	// without one takes effect at the next start ("restart needed").
	Apply map[string]func(ctx context.Context, value any) error
	// NextStart names the keys that only matter at start (the initial
	// volume): saved, they are "next start", not "restart needed", since
	// nothing running is wrong without them.
	NextStart []string
	// Restart restarts the speaker (POST /restart): it returns once the
	// restart is under way, not when it is done.
	Restart func(ctx context.Context) error
	// Credentials is the store of logins (internal/creds.Store through an
	// adapter).
	Credentials CredentialStore
	// Logout logs the current Spotify user out (as ZeroConf resetUsers).
	Logout func(ctx context.Context) error
	// Report writes the diagnostic report (speakerbox doctor report).
	Report func(ctx context.Context, w io.Writer) error
	// Log returns the last log lines, oldest first.
	Log func() []string
}

// SettingsEditor reads and changes the settings the page offers;
// *config.Editor is one. Update's refusals are *config.Error.
type SettingsEditor interface {
	Values() map[string]any
	Update(changes map[string]any) (changed []string, err error)
	Overridden(keys []string) map[string]string
}

// StoredUser is one stored login, without its secret.
type StoredUser struct {
	Username string // whole: the API shortens it and never sends it
	Verified bool
	LastUsed time.Time
}

// CredentialStore lists and forgets stored logins.
type CredentialStore interface {
	Users() ([]StoredUser, error)
	Forget(username string) (found bool, err error)
}

// ownerState is what the owner's routes keep for the life of the server.
type ownerState struct {
	// idKey makes the ids of stored users: the page names a user to
	// forget by an id that is stable while the server runs and tells
	// nothing of the username.
	idKey [32]byte

	mu sync.Mutex
	// atStart are the settings' values when the server was made: a key
	// that needs a restart stops being pending once it is back to them.
	atStart map[string]any
	// pending are the keys saved since the start that need a restart.
	pending map[string]bool
}

func newOwnerState(ed SettingsEditor) *ownerState {
	o := &ownerState{pending: map[string]bool{}}
	if ed != nil {
		o.atStart = ed.Values()
	}
	_, _ = rand.Read(o.idKey[:]) // never fails on Linux (Go 1.24+ crashes rather than return an error)
	return o
}

func (o *ownerState) userID(username string) string {
	m := hmac.New(sha256.New, o.idKey[:])
	m.Write([]byte(strings.ToLower(username)))
	return hex.EncodeToString(m.Sum(nil)[:9])
}

func (s *Server) ownerRoutes() []route {
	return []route{
		{http.MethodGet, "/settings", s.getSettings},
		{http.MethodPut, "/settings", s.putSettings},
		{http.MethodGet, "/credentials", s.getCredentials},
		{http.MethodDelete, "/credentials/{id}", s.deleteCredentials},
		{http.MethodPost, "/session/logout", s.postLogout},
		{http.MethodGet, "/report", s.getReport},
		{http.MethodGet, "/log", s.getLog},
		{http.MethodPost, "/restart", s.postRestart},
	}
}

// withPage serves the page's own files ahead of the guard (and so
// without the token); everything else goes through next.
func (s *Server) withPage(next http.Handler) http.Handler {
	o := s.cfg.Owner
	if o.Page == nil {
		return next
	}
	paths := map[string]bool{}
	for _, p := range o.PagePaths {
		paths[p] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if paths[r.URL.Path] && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			o.Page.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type settingsBody struct {
	Values map[string]any `json:"values"`
	// Overridden names the keys set by a flag or the environment, which
	// win over the page's settings.
	Overridden map[string]string `json:"overridden"`
	File       string            `json:"file,omitempty"`
	// PendingRestart names the saved keys the running speaker does not
	// follow yet: a restart puts them into effect.
	PendingRestart []string `json:"pending_restart"`
}

type settingsAnswer struct {
	settingsBody
	Changed       []string `json:"changed"`
	Applied       []string `json:"applied"`
	NextStart     []string `json:"next_start"`
	RestartNeeded []string `json:"restart_needed"`
	Message       string   `json:"message"`
}

// settingsError is a refused setting: the key lets the page show the
// message next to its field.
type settingsError struct {
	Error string `json:"error"`
	Key   string `json:"key,omitempty"`
}

func (s *Server) settingsBody() settingsBody {
	ed := s.cfg.Owner.Settings
	b := settingsBody{Values: ed.Values(), Overridden: ed.Overridden(config.SettingKeys())}
	if p, ok := ed.(interface{ Path() string }); ok {
		b.File = p.Path()
	}
	b.PendingRestart = s.owner.pendingRestart(b.Values)
	return b
}

// markPending records what a save left for a restart and what it put into
// effect (no longer pending).
func (o *ownerState) markPending(restart, applied []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, k := range restart {
		o.pending[k] = true
	}
	for _, k := range applied {
		delete(o.pending, k)
	}
}

// pendingRestart are the pending keys whose values differ from those at
// start: one set back needs no restart.
func (o *ownerState) pendingRestart(values map[string]any) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := []string{}
	for k := range o.pending {
		if !reflect.DeepEqual(values[k], o.atStart[k]) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Server) getSettings(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Owner.Settings == nil {
		writeError(w, http.StatusServiceUnavailable, "settings are not available")
		return
	}
	writeJSON(w, http.StatusOK, s.settingsBody())
}

func (s *Server) putSettings(w http.ResponseWriter, r *http.Request) {
	body, code, err := readBody(w, r)
	if err == nil && len(body) == 0 {
		code, err = http.StatusBadRequest, errors.New(`the body must be a JSON object of settings: {"audio.max_volume": 80}`)
	}
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	var changes map[string]any
	if err := json.Unmarshal(body, &changes); err != nil || changes == nil {
		writeError(w, http.StatusBadRequest, "the body must be a JSON object of settings, such as {\"audio.max_volume\": 80}")
		return
	}
	ed := s.cfg.Owner.Settings
	if ed == nil {
		writeError(w, http.StatusServiceUnavailable, "settings are not available")
		return
	}
	changed, err := ed.Update(changes)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) && ce.Key != "" {
			writeJSON(w, http.StatusBadRequest, settingsError{Error: err.Error(), Key: ce.Key})
			return
		}
		if errors.As(err, &ce) {
			// The file itself is broken: the owner must mend it.
			writeJSON(w, http.StatusConflict, settingsError{Error: err.Error()})
			return
		}
		s.cfg.Log.Warn("local API: saving settings failed", "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	a := settingsAnswer{settingsBody: s.settingsBody(), Changed: nonNil(changed), Applied: []string{}, NextStart: []string{}, RestartNeeded: []string{}}
	for _, k := range changed {
		apply := s.cfg.Owner.Apply[k]
		_, over := a.Overridden[k]
		if !over && slices.Contains(s.cfg.Owner.NextStart, k) {
			a.NextStart = append(a.NextStart, k)
			continue
		}
		if over || apply == nil {
			a.RestartNeeded = append(a.RestartNeeded, k)
			continue
		}
		if err := command(r, func(ctx context.Context) error { return apply(ctx, a.Values[k]) }); err != nil {
			s.cfg.Log.Warn("local API: a saved setting could not be applied now", "key", k, "err", err)
			a.RestartNeeded = append(a.RestartNeeded, k)
			continue
		}
		a.Applied = append(a.Applied, k)
	}
	// A key a flag or the environment sets is not pending: a restart
	// would not put the page's value into effect either.
	var restart []string
	for _, k := range a.RestartNeeded {
		if _, over := a.Overridden[k]; !over {
			restart = append(restart, k)
		}
	}
	s.owner.markPending(restart, a.Applied)
	a.PendingRestart = s.owner.pendingRestart(a.Values)
	a.Message = settingsMessage(a)
	s.cfg.Log.Info("settings saved from the local API", "changed", strings.Join(changed, ","), "applied", strings.Join(a.Applied, ","))
	writeJSON(w, http.StatusOK, a)
}

func settingsMessage(a settingsAnswer) string {
	if len(a.Changed) == 0 {
		return "Nothing changed."
	}
	msg := "Saved."
	if len(a.Applied) > 0 {
		msg += " In effect now: " + strings.Join(a.Applied, ", ") + "."
	}
	if len(a.NextStart) > 0 {
		msg += " At the next start: " + strings.Join(a.NextStart, ", ") + "."
	}
	if len(a.RestartNeeded) > 0 {
		msg += " Restart needed for: " + strings.Join(a.RestartNeeded, ", ") + "."
	}
	for _, k := range a.Changed {
		if src, ok := a.Overridden[k]; ok {
			msg += fmt.Sprintf(" %s is also set by %s, which wins over the page's settings.", k, src)
		}
	}
	return msg
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type credentialsBody struct {
	Users []userBody `json:"users"`
}

type userBody struct {
	ID       string     `json:"id"`
	User     string     `json:"user"` // shortened
	Verified bool       `json:"verified"`
	Current  bool       `json:"current"`
	LastUsed *time.Time `json:"last_used,omitempty"`
}

func (s *Server) getCredentials(w http.ResponseWriter, _ *http.Request) {
	st := s.cfg.Owner.Credentials
	if st == nil {
		writeError(w, http.StatusServiceUnavailable, "stored logins are not available")
		return
	}
	users, err := st.Users()
	if err != nil {
		s.cfg.Log.Warn("local API: listing stored logins failed", "err", err)
		writeError(w, http.StatusInternalServerError, "reading the stored logins failed")
		return
	}
	current := ""
	if s.cfg.Source != nil {
		current = s.cfg.Source.ReceiverStatus().User
	}
	b := credentialsBody{Users: []userBody{}}
	for _, u := range users {
		ub := userBody{ID: s.owner.userID(u.Username), User: redact.Username(u.Username), Verified: u.Verified,
			Current: current != "" && strings.EqualFold(current, u.Username)}
		if !u.LastUsed.IsZero() {
			t := u.LastUsed.UTC()
			ub.LastUsed = &t
		}
		b.Users = append(b.Users, ub)
	}
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) deleteCredentials(w http.ResponseWriter, r *http.Request) {
	if !s.emptyBody(w, r) {
		return
	}
	st := s.cfg.Owner.Credentials
	if st == nil {
		writeError(w, http.StatusServiceUnavailable, "stored logins are not available")
		return
	}
	id := r.PathValue("id")
	users, err := st.Users()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading the stored logins failed")
		return
	}
	for _, u := range users {
		if hmac.Equal([]byte(s.owner.userID(u.Username)), []byte(id)) {
			found, err := st.Forget(u.Username)
			if err != nil {
				s.cfg.Log.Warn("local API: forgetting a login failed", "user", redact.Username(u.Username), "err", err)
				writeError(w, http.StatusInternalServerError, "forgetting the login failed")
				return
			}
			if found {
				s.cfg.Log.Info("stored login forgotten from the local API", "user", redact.Username(u.Username))
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
	}
	writeError(w, http.StatusNotFound, "no stored login with id "+quoteShort(id)+" (see GET /credentials)")
}

func (s *Server) postLogout(w http.ResponseWriter, r *http.Request) {
	if !s.emptyBody(w, r) {
		return
	}
	if s.cfg.Owner.Logout == nil {
		writeError(w, http.StatusServiceUnavailable, "logout is not available")
		return
	}
	s.answer(w, "session logout", command(r, s.cfg.Owner.Logout))
}

func (s *Server) getReport(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Owner.Report == nil {
		writeError(w, http.StatusServiceUnavailable, "the diagnostic report is not available in this build")
		return
	}
	// Written to memory first: a report that fails half-way is an error,
	// not half a file.
	var b strings.Builder
	if err := command(r, func(ctx context.Context) error { return s.cfg.Owner.Report(ctx, &b) }); err != nil {
		if errors.Is(err, ErrUnavailable) {
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		s.cfg.Log.Warn("local API: diagnostic report failed", "err", err)
		writeError(w, http.StatusInternalServerError, "the diagnostic report failed: "+err.Error())
		return
	}
	name := "speakerbox-report-" + s.cfg.Now().UTC().Format("20060102-150405") + ".txt"
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, b.String())
}

type logBody struct {
	Lines []string `json:"lines"`
}

func (s *Server) getLog(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Owner.Log == nil {
		writeError(w, http.StatusServiceUnavailable, "the log is not available")
		return
	}
	writeJSON(w, http.StatusOK, logBody{Lines: nonNil(s.cfg.Owner.Log())})
}

type restartBody struct {
	Message string `json:"message"`
}

// postRestart starts a restart and answers 202 before it happens: the
// answer could not be sent from a speaker that has stopped.
func (s *Server) postRestart(w http.ResponseWriter, r *http.Request) {
	if !s.emptyBody(w, r) {
		return
	}
	if s.cfg.Owner.Restart == nil {
		writeError(w, http.StatusServiceUnavailable, "restart is not available")
		return
	}
	if err := command(r, s.cfg.Owner.Restart); err != nil {
		s.answer(w, "restart", err)
		return
	}
	s.cfg.Log.Info("restart asked for from the local API")
	writeJSON(w, http.StatusAccepted, restartBody{Message: "Restarting: the speaker is back in a few seconds."})
}

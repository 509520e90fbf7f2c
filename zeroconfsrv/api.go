package zeroconfsrv

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	librespot "github.com/devgianlu/go-librespot"
	"github.com/devgianlu/go-librespot/dh"
	devicespb "github.com/devgianlu/go-librespot/proto/spotify/connectstate/devices"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/internal/redact"
	"github.com/speakerbox/speakerbox/zeroconfsrv/blob"
)

// MaxBodyBytes bounds a request body; real addUser forms are about 1 KiB.
const MaxBodyBytes = 64 << 10

// Receiver is told about logins and logouts (the player's session). Calls
// come with the handler's addUser lock held, so they arrive in the order the
// credentials were stored. They must hand the work off and return: the login
// to Spotify may take long or wait for the network, and the phone is waiting
// for its answer. ctx bounds only the hand-off (handoffTimeout); it is
// cancelled when the call returns.
type Receiver interface {
	OnLogin(ctx context.Context, c creds.Credentials)
	OnReset(ctx context.Context)
}

// handoffTimeout bounds how long a stuck receiver can hold up addUser.
const handoffTimeout = 5 * time.Second

// CredentialStore is where addUser puts credentials (creds.Store).
type CredentialStore interface {
	// Put stores a phone's handover before Spotify has seen it (the store
	// keeps it as unverified, and bounds how many of those it keeps).
	Put(c creds.Credentials) error
	Forget(username string) (bool, error)
}

// Info is what getInfo says about the device.
type Info struct {
	Name           string
	DeviceType     devicespb.DeviceType
	DeviceID       string
	Model          string // modelDisplayName; "librespot" unless configured
	LibraryVersion string
}

// HandlerConfig configures the ZeroConf HTTP API.
type HandlerConfig struct {
	Info         Info
	AllowedUsers []string // empty: anyone
	ResetForgets bool     // resetUsers also forgets the active user's stored credentials
	AddUserRate  int      // addUser attempts per minute per source address; <= 0: 10
	Logger       *slog.Logger
	Now          func() time.Time
}

// Handler serves Spotify's ZeroConf API: getInfo, addUser, resetUsers.
type Handler struct {
	cfg     HandlerConfig
	store   CredentialStore
	recv    Receiver
	log     *slog.Logger
	dh      *dh.DiffieHellman
	pub64   string
	limiter *rateLimiter
	allowed map[string]bool

	// addMu serialises addUser from decryption to the receiver call: of two
	// concurrent logins the one that takes the lock last wins, and the file
	// on disk, the active user and the receiver's last OnLogin all agree.
	addMu sync.Mutex

	mu         sync.Mutex
	name       string
	activeUser string

	stats handlerStats // for Stats (stats.go)
}

// NewHandler returns the API handler with a fresh Diffie-Hellman key pair.
func NewHandler(cfg HandlerConfig, store CredentialStore, recv Receiver) (*Handler, error) {
	if cfg.Logger == nil {
		return nil, errors.New("zeroconf handler: no logger")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AddUserRate <= 0 {
		cfg.AddUserRate = 10
	}
	k, err := dh.NewDiffieHellman()
	if err != nil {
		return nil, fmt.Errorf("zeroconf handler: %w", err)
	}
	h := &Handler{
		cfg: cfg, store: store, recv: recv, log: cfg.Logger, dh: k,
		pub64:   base64.StdEncoding.EncodeToString(k.PublicKeyBytes()),
		limiter: newRateLimiter(cfg.AddUserRate, time.Minute, cfg.Now),
		allowed: map[string]bool{},
		name:    cfg.Info.Name,
	}
	for _, u := range cfg.AllowedUsers {
		h.allowed[strings.ToLower(u)] = true
	}
	return h, nil
}

// SetName changes the remoteName getInfo reports.
func (h *Handler) SetName(name string) {
	h.mu.Lock()
	h.name = name
	h.mu.Unlock()
}

// SetActiveUser sets the user getInfo reports as logged in; the receiver
// calls it with the canonical username after a login (or "" after a logout).
func (h *Handler) SetActiveUser(username string) {
	h.mu.Lock()
	h.activeUser = username
	h.mu.Unlock()
}

// ActiveUser is the user getInfo reports.
func (h *Handler) ActiveUser() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.activeUser
}

// Status is one of the ZeroConf API's result codes.
type Status struct {
	Code int
	Text string
	HTTP int
}

// The spec's status codes with the HTTP status we answer them with.
var (
	StatusOK               = Status{101, "OK", http.StatusOK}
	StatusBadRequest       = Status{102, "ERROR-BAD-REQUEST", http.StatusBadRequest}
	StatusUnknown          = Status{103, "ERROR-UNKNOWN", http.StatusInternalServerError}
	StatusNotImplemented   = Status{104, "ERROR-NOT-IMPLEMENTED", http.StatusNotImplemented}
	StatusLoginFailed      = Status{202, "ERROR-LOGIN-FAILED", http.StatusOK}
	StatusInvalidPublicKey = Status{203, "ERROR-INVALID-PUBLICKEY", http.StatusOK}
	StatusMissingAction    = Status{301, "ERROR-MISSING-ACTION", http.StatusBadRequest}
	StatusInvalidAction    = Status{302, "ERROR-INVALID-ACTION", http.StatusBadRequest}
	StatusInvalidArguments = Status{303, "ERROR-INVALID-ARGUMENTS", http.StatusBadRequest}
	StatusSpotifyError     = Status{402, "ERROR-SPOTIFY-ERROR", http.StatusOK}
)

// Response is the JSON body of every answer but getInfo's.
type Response struct {
	Status       int    `json:"status"`
	StatusString string `json:"statusString"`
	SpotifyError int    `json:"spotifyError"`
	// Reason says briefly why a request was refused (our addition; clients
	// that do not know it ignore it).
	Reason string `json:"reason,omitempty"`
	// PublicKey accompanies 203, so a client holding a stale key can retry.
	PublicKey string `json:"publicKey,omitempty"`
}

// GetInfo is getInfo's JSON body.
type GetInfo struct {
	Status           int    `json:"status"`
	StatusString     string `json:"statusString"`
	SpotifyError     int    `json:"spotifyError"`
	Version          string `json:"version"`
	DeviceID         string `json:"deviceID"`
	RemoteName       string `json:"remoteName"`
	DeviceType       string `json:"deviceType"`
	PublicKey        string `json:"publicKey"`
	BrandDisplayName string `json:"brandDisplayName"`
	ModelDisplayName string `json:"modelDisplayName"`
	LibraryVersion   string `json:"libraryVersion"`
	ResolverVersion  string `json:"resolverVersion"`
	GroupStatus      string `json:"groupStatus"`
	TokenType        string `json:"tokenType"`
	ClientID         string `json:"clientID"`
	ProductID        int    `json:"productID"`
	Scope            string `json:"scope"`
	Availability     string `json:"availability"`
	AccountReq       string `json:"accountReq"`
	ActiveUser       string `json:"activeUser"`
	VoiceSupport     string `json:"voiceSupport"`
}

func (h *Handler) reply(w http.ResponseWriter, st Status, reason string) {
	if aw, ok := w.(addUserWriter); ok {
		h.stats.noteAddUser(st)
		w = aw.ResponseWriter
	}
	r := Response{Status: st.Code, StatusString: st.Text, Reason: reason}
	if st == StatusInvalidPublicKey {
		r.PublicKey = h.pub64
	}
	writeJSON(w, st.HTTP, r)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"status":103,"statusString":"ERROR-UNKNOWN","spotifyError":0}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// ServeHTTP dispatches on the action parameter (query or form body).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			h.log.Warn("zeroconf request body too large", "remote", r.RemoteAddr, "limit", MaxBodyBytes)
			writeJSON(w, http.StatusRequestEntityTooLarge, Response{Status: StatusBadRequest.Code, StatusString: StatusBadRequest.Text, Reason: "request body larger than 64 KiB"})
			return
		}
		h.log.Warn("zeroconf request with a malformed form", "remote", r.RemoteAddr)
		h.reply(w, StatusBadRequest, "malformed form")
		return
	}
	switch action := r.Form.Get("action"); action {
	case "":
		h.reply(w, StatusMissingAction, "no action")
	case "getInfo":
		h.getInfo(w)
	case "addUser":
		h.addUser(addUserWriter{w}, r)
	case "resetUsers":
		h.resetUsers(w, r)
	default:
		h.log.Debug("zeroconf request with an unknown action", "remote", r.RemoteAddr, "action_len", len(action))
		h.reply(w, StatusInvalidAction, "unknown action")
	}
}

func (h *Handler) getInfo(w http.ResponseWriter) {
	h.mu.Lock()
	name, active := h.name, h.activeUser
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, GetInfo{
		Status: StatusOK.Code, StatusString: StatusOK.Text, SpotifyError: 0,
		Version:          "2.7.1",
		DeviceID:         h.cfg.Info.DeviceID,
		RemoteName:       name,
		DeviceType:       h.cfg.Info.DeviceType.String(),
		PublicKey:        h.pub64,
		BrandDisplayName: "Speakerbox",
		ModelDisplayName: h.cfg.Info.Model,
		LibraryVersion:   h.cfg.Info.LibraryVersion,
		ResolverVersion:  "0",
		GroupStatus:      "NONE",
		TokenType:        "default",
		ClientID:         librespot.ClientIdHex,
		ProductID:        0,
		Scope:            "streaming,client-authorization-universal",
		Availability:     "", // ready: discovery works without the internet
		AccountReq:       "PREMIUM",
		ActiveUser:       active,
		VoiceSupport:     "NO",
	})
}

// maxClientKeyLen is the size of the 768-bit group's elements.
const maxClientKeyLen = 96

var (
	dhPrime, _ = new(big.Int).SetString("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF", 16)
	dhMax      = new(big.Int).Sub(dhPrime, big.NewInt(2))
)

// validClientKey reports whether k is in 2..p-2: 0, 1 and p-1 (and anything
// out of the group) would make the shared secret predictable.
func validClientKey(k []byte) bool {
	if len(k) == 0 || len(k) > maxClientKeyLen {
		return false
	}
	v := new(big.Int).SetBytes(k)
	return v.Cmp(big.NewInt(2)) >= 0 && v.Cmp(dhMax) <= 0
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *Handler) addUser(w http.ResponseWriter, r *http.Request) {
	src := sourceIP(r)
	if r.Method != http.MethodPost {
		h.reply(w, StatusBadRequest, "addUser must be a POST")
		return
	}
	if !h.limiter.allow(src) {
		h.log.Warn("zeroconf addUser refused: too many attempts from this address", "remote", src, "per_minute", h.cfg.AddUserRate)
		h.reply(w, StatusLoginFailed, "too many attempts; wait a minute")
		return
	}
	// Only the body counts: credentials do not belong in a URL.
	f := r.PostForm
	user, blob64, key64 := f.Get("userName"), f.Get("blob"), f.Get("clientKey")
	for _, p := range []struct{ name, v string }{{"userName", user}, {"blob", blob64}, {"clientKey", key64}, {"deviceName", f.Get("deviceName")}} {
		if p.v == "" {
			h.reply(w, StatusInvalidArguments, "missing "+p.name)
			return
		}
	}
	if len(user) > 256 {
		h.reply(w, StatusInvalidArguments, "userName too long")
		return
	}
	outer, err := base64.StdEncoding.DecodeString(blob64)
	if err != nil {
		h.reply(w, StatusInvalidArguments, "blob is not base64")
		return
	}
	if len(outer) < blob.MinOuterLen || len(outer) > blob.MaxOuterLen {
		h.reply(w, StatusInvalidArguments, fmt.Sprintf("blob of %d bytes; want %d to %d", len(outer), blob.MinOuterLen, blob.MaxOuterLen))
		return
	}
	clientKey, err := base64.StdEncoding.DecodeString(key64)
	if err != nil {
		h.reply(w, StatusInvalidArguments, "clientKey is not base64")
		return
	}
	if !validClientKey(clientKey) {
		h.log.Warn("zeroconf addUser refused: client public key out of range", "remote", src, "key_len", len(clientKey))
		h.reply(w, StatusInvalidPublicKey, "clientKey is not a valid Diffie-Hellman public key")
		return
	}
	if len(h.allowed) > 0 && !h.allowed[strings.ToLower(user)] {
		h.log.Warn("zeroconf addUser refused: user not in zeroconf.allowed_users", "remote", src, "user", redact.Username(user))
		h.reply(w, StatusLoginFailed, "user not allowed on this speaker")
		return
	}

	h.addMu.Lock()
	defer h.addMu.Unlock()
	// package dh keeps the last shared secret in the key object, so the
	// exchange, too, happens under the lock.
	shared := h.dh.Exchange(clientKey)
	inner, err := blob.DecryptOuter(shared, outer)
	if err != nil {
		// Most often a phone that cached our public key from before a
		// restart: 203 with the current key lets it retry.
		h.log.Warn("zeroconf addUser refused: blob checksum does not match (stale public key?)", "remote", src, "user", redact.Username(user))
		h.reply(w, StatusInvalidPublicKey, "blob checksum mismatch; retry with this publicKey")
		return
	}
	c, err := blob.DecodeInner(h.cfg.Info.DeviceID, user, inner)
	if err != nil {
		// err never carries blob content, but may name the auth type.
		h.log.Warn("zeroconf addUser refused: inner blob", "remote", src, "user", redact.Username(user), "err", err)
		h.reply(w, StatusLoginFailed, "credentials in the blob are not usable")
		return
	}
	if err := h.store.Put(c); err != nil {
		h.log.Error("zeroconf addUser: storing credentials failed", "user", redact.Username(user), "err", err)
		h.reply(w, StatusUnknown, "could not store credentials")
		return
	}
	h.SetActiveUser(c.Username)
	h.log.Info("zeroconf login handed over", "user", redact.Username(c.Username), "auth_type", c.AuthType, "remote", src)
	if h.recv != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), handoffTimeout)
		h.recv.OnLogin(ctx, c)
		cancel()
	}
	h.reply(w, StatusOK, "")
}

func (h *Handler) resetUsers(w http.ResponseWriter, r *http.Request) {
	h.addMu.Lock()
	defer h.addMu.Unlock()
	h.mu.Lock()
	user := h.activeUser
	h.activeUser = ""
	h.mu.Unlock()
	if h.cfg.ResetForgets && user != "" {
		if _, err := h.store.Forget(user); err != nil {
			h.log.Error("zeroconf resetUsers: forgetting credentials failed", "user", redact.Username(user), "err", err)
		}
	}
	h.log.Info("zeroconf resetUsers: logging out", "user", redact.Username(user), "forget", h.cfg.ResetForgets)
	if h.recv != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), handoffTimeout)
		h.recv.OnReset(ctx)
		cancel()
	}
	h.reply(w, StatusOK, "")
}

// Package creds owns the Spotify login credentials: the one Credentials type
// that the ZeroConf API, the login session and the on-disk store share, and
// the store itself (credentials.json in librespot's format for the newest
// login Spotify accepted, plus a bounded multi-user file).
package creds

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/speakerbox/speakerbox/internal/redact"
)

// AuthType is Spotify's AuthenticationType (authentication.proto), the
// number librespot writes as auth_type.
type AuthType int32

// The authentication types a login can carry.
const (
	AuthUserPass       AuthType = 0 // password login: Spotify no longer accepts it
	AuthStoredSpotify  AuthType = 1 // reusable credentials from an earlier login
	AuthStoredFacebook AuthType = 2
	AuthSpotifyToken   AuthType = 3 // OAuth access token
	AuthFacebookToken  AuthType = 4
	maxAuthType                 = AuthFacebookToken
)

const (
	maxUsernameLen          = 256
	maxAuthDataLen          = 16 << 10
	errPrefixInvalidCreds   = "invalid credentials"
	librespotFieldsRequired = "username, auth_type and auth_data"
)

// String names the type the way `credentials list` shows it.
func (t AuthType) String() string {
	switch t {
	case AuthUserPass:
		return "password"
	case AuthStoredSpotify:
		return "stored"
	case AuthStoredFacebook:
		return "stored-facebook"
	case AuthSpotifyToken:
		return "token"
	case AuthFacebookToken:
		return "facebook-token"
	}
	return fmt.Sprintf("type-%d", int32(t))
}

// Credentials is one user's login, as librespot stores it in
// credentials.json: {"username": ..., "auth_type": <int>, "auth_data": "<base64>"}.
// AuthData is a secret: it never reaches a log. LogValue, String and
// GoString show a shortened username, the type and the length of the secret
// only, so even a careless "creds", c or %+v prints nothing that identifies
// or logs in.
type Credentials struct {
	Username string   `json:"username"`
	AuthType AuthType `json:"auth_type"`
	AuthData []byte   `json:"auth_data"`
}

// LogValue implements slog.LogValuer.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("user", redact.Username(c.Username)),
		slog.String("auth_type", c.AuthType.String()),
		slog.Int("auth_data_len", len(c.AuthData)),
	)
}

// String implements fmt.Stringer (used by %v, %+v and %s).
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{user %s, type %d, %d bytes}", redact.Username(c.Username), int32(c.AuthType), len(c.AuthData))
}

// GoString implements fmt.GoStringer (%#v), which would otherwise print the
// secret byte by byte.
func (c Credentials) GoString() string { return c.String() }

// Validate reports what is wrong with c, if anything. Password credentials
// (auth type 0) are refused: they would be useless (Spotify rejects password
// logins) and we do not want a password on disk.
func (c Credentials) Validate() error {
	switch {
	case c.Username == "":
		return errors.New(errPrefixInvalidCreds + ": empty username")
	case len(c.Username) > maxUsernameLen:
		return fmt.Errorf("%s: username of %d bytes is longer than %d", errPrefixInvalidCreds, len(c.Username), maxUsernameLen)
	case c.AuthType == AuthUserPass:
		return errors.New(errPrefixInvalidCreds + ": auth_type 0 (password) is not accepted")
	case c.AuthType < 0 || c.AuthType > maxAuthType:
		return fmt.Errorf("%s: unknown auth_type %d", errPrefixInvalidCreds, int32(c.AuthType))
	case len(c.AuthData) == 0:
		return errors.New(errPrefixInvalidCreds + ": empty auth_data")
	case len(c.AuthData) > maxAuthDataLen:
		return fmt.Errorf("%s: auth_data of %d bytes is longer than %d", errPrefixInvalidCreds, len(c.AuthData), maxAuthDataLen)
	}
	return nil
}

// Marshal returns c in librespot's credentials.json format.
func (c Credentials) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode credentials: %w", err)
	}
	return append(b, '\n'), nil
}

// Parse reads one credentials object in librespot's format and validates it.
// Fields other than the three of librespot are ignored.
func Parse(b []byte) (Credentials, error) {
	var raw struct {
		Username *string `json:"username"`
		AuthType *int64  `json:"auth_type"`
		AuthData *[]byte `json:"auth_data"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Credentials{}, fmt.Errorf("parse credentials: %w", err)
	}
	if raw.Username == nil || raw.AuthType == nil || raw.AuthData == nil {
		return Credentials{}, errors.New("parse credentials: " + librespotFieldsRequired + " are required")
	}
	if *raw.AuthType < 0 || *raw.AuthType > int64(maxAuthType) {
		return Credentials{}, fmt.Errorf("%s: unknown auth_type %d", errPrefixInvalidCreds, *raw.AuthType)
	}
	c := Credentials{Username: *raw.Username, AuthType: AuthType(*raw.AuthType), AuthData: *raw.AuthData}
	if err := c.Validate(); err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// Package creds owns the Spotify login credentials a phone hands the speaker:
// the Credentials value itself and the on-disk store (credentials.json in
// librespot's format for the default user, plus every user's credentials).
package creds

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Authentication types of Spotify's LoginCredentials (authentication.proto).
const (
	AuthUserPass            = 0 // password login: Spotify no longer accepts it
	AuthStoredSpotify       = 1 // reusable credentials from an earlier login
	AuthStoredFacebook      = 2
	AuthSpotifyToken        = 3 // OAuth access token
	AuthFacebookToken       = 4
	maxAuthType             = AuthFacebookToken
	maxUsernameLen          = 256
	maxAuthDataLen          = 16 << 10
	errPrefixInvalidCreds   = "invalid credentials"
	librespotFieldsRequired = "username, auth_type and auth_data"
)

// Credentials is one user's login, as librespot stores it in
// credentials.json: {"username": ..., "auth_type": <int>, "auth_data": "<base64>"}.
// AuthData is a secret: never log it.
type Credentials struct {
	Username string `json:"username"`
	AuthType int    `json:"auth_type"`
	AuthData []byte `json:"auth_data"`
}

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
		return fmt.Errorf("%s: unknown auth_type %d", errPrefixInvalidCreds, c.AuthType)
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
func Parse(b []byte) (Credentials, error) {
	var raw struct {
		Username *string `json:"username"`
		AuthType *int    `json:"auth_type"`
		AuthData *[]byte `json:"auth_data"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Credentials{}, fmt.Errorf("parse credentials: %w", err)
	}
	if raw.Username == nil || raw.AuthType == nil || raw.AuthData == nil {
		return Credentials{}, errors.New("parse credentials: " + librespotFieldsRequired + " are required")
	}
	c := Credentials{Username: *raw.Username, AuthType: *raw.AuthType, AuthData: *raw.AuthData}
	if err := c.Validate(); err != nil {
		return Credentials{}, err
	}
	return c, nil
}

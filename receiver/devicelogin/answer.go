package devicelogin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// pollError is a token poll that brought no token.
type pollError struct {
	status    int
	code      string // the OAuth error code; "" when the answer had none
	desc      string
	transient bool // worth retrying: a server error, or an answer we could not read
}

func (e *pollError) Error() string {
	switch {
	case e.code != "":
		return fmt.Sprintf("token endpoint answered HTTP %d %s", e.status, e.code)
	case e.desc != "":
		return fmt.Sprintf("token endpoint answered HTTP %d: %s", e.status, e.desc)
	}
	return fmt.Sprintf("token endpoint answered HTTP %d", e.status)
}

// parseTokenAnswer reads one answer of the token endpoint (RFC 6749 §5.1 and
// §5.2, RFC 8628 §3.5): the access token, or a *pollError. It never panics,
// whatever the network sends.
func parseTokenAnswer(status int, body []byte) (string, error) {
	var ans struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	jsonErr := json.Unmarshal(body, &ans)
	switch {
	case status == http.StatusOK && jsonErr == nil && ans.AccessToken != "":
		if ans.TokenType != "" && !strings.EqualFold(ans.TokenType, "bearer") {
			return "", &pollError{status: status, desc: fmt.Sprintf("token of type %.40q, not Bearer", ans.TokenType)}
		}
		return ans.AccessToken, nil
	case status == http.StatusOK:
		// Approved, says the status, but without a token we can use: a
		// proxy or a bad moment of the service. The code is still ours
		// until it expires, so ask again.
		return "", &pollError{status: status, desc: "answer without an access token", transient: true}
	case jsonErr == nil && ans.Error != "" && status >= 400 && status < 500:
		return "", &pollError{status: status, code: clip(ans.Error), desc: clip(ans.Description)}
	case status >= 500 || status == http.StatusTooManyRequests:
		return "", &pollError{status: status, transient: true}
	}
	return "", &pollError{status: status, desc: "an answer that is not an OAuth error"}
}

// clip bounds a string from the network before it reaches a message, and
// keeps control characters off the owner's terminal.
func clip(s string) string {
	const n = 200
	if len(s) > n {
		s = s[:n] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

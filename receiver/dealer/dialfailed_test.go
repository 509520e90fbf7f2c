package dealer_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/receiver/dealer"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// DialFailed: a failure it takes (here a certificate-time error, with the
// TLS verification run against a clock a century ahead: httptest's certificate ends in 2084) gets no backoff,
// no further attempt and no warning; one it declines backs off as before.
func TestDialFailedTakesOverTheFailure(t *testing.T) {
	got := make(chan error, 4)
	h := newHarness(t, func(c *dealer.Config) {
		tr := c.Client.Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Time = func() time.Time { return time.Now().AddDate(100, 0, 0) }
		c.Client = &http.Client{Transport: tr}
		c.DialFailed = func(err error) bool {
			got <- err
			var ce x509.CertificateInvalidError
			return errors.As(err, &ce) && ce.Reason == x509.Expired
		}
	})
	var err error
	select {
	case err = <-got:
	case <-time.After(guard):
		t.Fatal("DialFailed not called")
	}
	var ve *tls.CertificateVerificationError
	if !errors.As(err, &ve) {
		t.Fatalf("DialFailed got %v: the TLS error is not in the chain", err)
	}
	// Run ends; had it scheduled a retry, the wait would be recorded.
	h.cancel()
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	h.done <- nil // for the harness's own cleanup
	if len(h.waits) != 0 || len(got) != 0 {
		t.Errorf("%d backoffs, %d more failures after DialFailed took the first", len(h.waits), len(got))
	}
	if strings.Contains(h.logs.String(), "level=WARN") || !strings.Contains(h.logs.String(), "the owner takes over") {
		t.Errorf("logs:\n%s", h.logs.String())
	}
}

func TestDialFailedDeclinedBacksOff(t *testing.T) {
	declined := make(chan struct{}, 4)
	h := newHarnessPre(t, func(s *spotifytest.DealerServer) { s.RefuseUpgrades(http.StatusServiceUnavailable, 1) }, func(c *dealer.Config) {
		c.DialFailed = func(error) bool { declined <- struct{}{}; return false }
	})
	h.wait()
	if len(declined) != 1 {
		t.Fatalf("DialFailed called %d times before the backoff", len(declined))
	}
	h.fire <- time.Time{}
	h.connected(1)
}

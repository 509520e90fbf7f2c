package spotifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// fakeCertNames are the names the leaf certificate covers: Spotify's fixed
// host names (go-librespot hard-codes them) and every one-label name under
// .test, which is what the fake's apresolve and storage-resolve hand out.
var fakeCertNames = []string{
	"apresolve.spotify.com",
	"clienttoken.spotify.com",
	"login5.spotify.com",
	"accounts.spotify.com",
	"api.spotify.com",
	"*.spotify.com",
	"spclient.test",
	"dealer.test",
	"*.test",
	"localhost",
}

// fakeTLS is a throwaway certificate authority and the one leaf certificate
// it signed for the fake's listener.
type fakeTLS struct {
	pool *x509.CertPool
	leaf tls.Certificate
}

// newFakeTLS generates a fresh ECDSA CA and leaf for each fake, so that no
// key material lives in the repository and no test trusts another's server.
func newFakeTLS(now time.Time) (*fakeTLS, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate test CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "speakerbox spotifytest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("sign test CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parse test CA: %w", err)
	}

	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate test leaf key: %w", err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "spotifytest"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     fakeCertNames,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("sign test leaf: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &fakeTLS{
		pool: pool,
		leaf: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey},
	}, nil
}

package registryauth

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// KeyBits is the size of a generated signing key: RS256 with 2048 bits, as GitLab's
// own registry key.
const KeyBits = 2048

// certValidity is how long the self-signed certificate is valid. distribution only
// takes its public key, but tools that inspect the bundle should not see it expire.
const certValidity = 10 * 365 * 24 * time.Hour

// GenerateKey makes a new signing key, PEM-encoded as PKCS#1 ("RSA PRIVATE KEY").
func GenerateKey() ([]byte, error) {
	k, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return nil, fmt.Errorf("registryauth: generate key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
}

// ParseKey reads an RSA private key in PEM, PKCS#1 or PKCS#8.
func ParseKey(data []byte) (*rsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("registryauth: the key file holds no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("registryauth: parse key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("registryauth: the key is not an RSA key (RS256 needs one)")
	}
	return rk, nil
}

// SelfSignedCert makes the certificate the registry's rootcertbundle holds: key's public
// key, signed by key itself, valid from an hour before now.
func SelfSignedCert(key *rsa.PrivateKey, commonName string, now time.Time) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("registryauth: certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// A CA flag lets the certificate sign itself in strict verifiers.
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("registryauth: create certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// CheckCert reports an error unless the PEM certificate holds key's public key: a
// bundle for another key would make the registry refuse every token.
func CheckCert(data []byte, key *rsa.PrivateKey) error {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return errors.New("registryauth: the certificate file holds no PEM certificate")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return fmt.Errorf("registryauth: parse certificate: %w", err)
	}
	want, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if !bytes.Equal(c.RawSubjectPublicKeyInfo, want) {
		return errors.New("registryauth: the certificate is not for the signing key")
	}
	return nil
}

// TokenBlock is the `auth.token` section of the registry's config.yml that trusts
// Keygate: realm is Keygate's /jwt/auth URL, certFile the certificate's path.
func TokenBlock(realm, issuer, certFile string) string {
	return "auth:\n  token:\n" +
		"    realm: " + realm + "\n" +
		"    service: " + Audience + "\n" +
		"    issuer: " + issuer + "\n" +
		"    rootcertbundle: " + certFile + "\n"
}

package registryauth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Audience is the JWT audience and the registry's service name.
const Audience = "container_registry"

// DefaultIssuer is the issuer Keygate signs with unless told otherwise.
const DefaultIssuer = "keygate-issuer"

// notBeforeSkew backdates nbf, as GitLab does, for registries whose clock runs behind.
const notBeforeSkew = 5 * time.Second

// KeyID is the libtrust key ID of a public key, which distribution computes for every
// certificate of its rootcertbundle and matches against the JWT's kid: SHA-256 of the
// DER SubjectPublicKeyInfo, first 240 bits, base32 without padding, a colon after every
// four characters.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("registryauth: key id: %w", err)
	}
	sum := sha256.Sum256(der)
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:30])
	var b strings.Builder
	for i := 0; i < len(enc); i += 4 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(enc[i : i+4])
	}
	return b.String(), nil
}

// Access is one granted scope in the JWT's access claim.
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Claims are the JWT's claims (distribution's ClaimSet). Audience is a JSON string:
// distribution 2.8 refuses an array.
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub,omitempty"`
	Audience  string   `json:"aud"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	Expires   int64    `json:"exp"`
	ID        string   `json:"jti"`
	Access    []Access `json:"access"`
}

// NewClaims fills the time and identity claims for a token issued at now that lives for
// ttl, with a fresh random jti. access nil becomes [].
func NewClaims(issuer, subject string, now time.Time, ttl time.Duration, access []Access) (Claims, error) {
	jti, err := newUUID()
	if err != nil {
		return Claims{}, err
	}
	if access == nil {
		access = []Access{}
	}
	return Claims{
		Issuer: issuer, Subject: subject, Audience: Audience,
		IssuedAt: now.Unix(), NotBefore: now.Add(-notBeforeSkew).Unix(), Expires: now.Add(ttl).Unix(),
		ID: jti, Access: access,
	}, nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("registryauth: jti: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// Signer signs registry tokens with one RSA key (RS256).
type Signer struct {
	key    *rsa.PrivateKey
	kid    string
	issuer string
	header string // base64url of the JOSE header, fixed per key
}

// NewSigner prepares a signer for key; issuer "" means DefaultIssuer.
func NewSigner(key *rsa.PrivateKey, issuer string) (*Signer, error) {
	if key == nil {
		return nil, fmt.Errorf("registryauth: no signing key")
	}
	kid, err := KeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	if issuer == "" {
		issuer = DefaultIssuer
	}
	key.Precompute()
	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{"RS256", kid, "JWT"})
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, kid: kid, issuer: issuer, header: base64.RawURLEncoding.EncodeToString(h)}, nil
}

// KeyID returns the kid the signer puts in every header.
func (s *Signer) KeyID() string { return s.kid }

// Issuer returns the iss claim the signer uses.
func (s *Signer) Issuer() string { return s.issuer }

// Public returns the verification key.
func (s *Signer) Public() *rsa.PublicKey { return &s.key.PublicKey }

// Sign encodes and signs claims as a compact JWS.
func (s *Signer) Sign(c Claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("registryauth: encode claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signing := make([]byte, 0, len(s.header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(s.key.Size()))
	signing = append(signing, s.header...)
	signing = append(signing, '.')
	signing = enc.AppendEncode(signing, payload)
	sum := sha256.Sum256(signing)
	sig, err := rsa.SignPKCS1v15(nil, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("registryauth: sign: %w", err)
	}
	signing = append(signing, '.')
	return string(enc.AppendEncode(signing, sig)), nil
}

package registryauth

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

// key returns one generated key for the package's tests (generation is slow).
func key(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		pemKey, err := GenerateKey()
		if err != nil {
			t.Fatalf("GenerateKey: %v", err)
		}
		if testKey, err = ParseKey(pemKey); err != nil {
			t.Fatalf("ParseKey: %v", err)
		}
	})
	return testKey
}

var kidRE = regexp.MustCompile(`^[A-Z2-7]{4}(:[A-Z2-7]{4}){11}$`)

func TestKeyID(t *testing.T) {
	k := key(t)
	id, err := KeyID(&k.PublicKey)
	if err != nil || !kidRE.MatchString(id) {
		t.Fatalf("KeyID = %q, %v, want 12 colon-separated groups of 4 base32 characters", id, err)
	}
	again, _ := KeyID(&k.PublicKey)
	if again != id {
		t.Errorf("KeyID twice = %q, %q", id, again)
	}
	other, err := rsa.GenerateKey(strings.NewReader(strings.Repeat("deterministic-enough-", 400)), 1024)
	if err == nil {
		if oid, _ := KeyID(&other.PublicKey); oid == id {
			t.Errorf("KeyID of two keys = %q both", id)
		}
	}
	if _, err := KeyID("not a key"); err == nil {
		t.Error("KeyID(string) = nil error")
	}
}

// decodeJWT splits a compact JWS, checks its RS256 signature with pub and returns the
// header and claims as raw JSON.
func decodeJWT(t *testing.T, tok string, pub *rsa.PublicKey) (header, claims []byte) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("JWT %q has %d parts", tok, len(parts))
	}
	enc := base64.RawURLEncoding
	var err error
	if header, err = enc.DecodeString(parts[0]); err != nil {
		t.Fatalf("header: %v", err)
	}
	if claims, err = enc.DecodeString(parts[1]); err != nil {
		t.Fatalf("claims: %v", err)
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	return header, claims
}

func TestSignerSign(t *testing.T) {
	k := key(t)
	s, err := NewSigner(k, "")
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	if s.Issuer() != DefaultIssuer {
		t.Errorf("Issuer() = %q, want %q", s.Issuer(), DefaultIssuer)
	}
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	c, err := NewClaims("my-issuer", "alice", now, 5*time.Minute, []Access{{Type: "repository", Name: "g/p", Actions: []string{"pull"}}})
	if err != nil {
		t.Fatalf("NewClaims: %v", err)
	}
	tok, err := s.Sign(c)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	header, claims := decodeJWT(t, tok, s.Public())
	if want := `{"alg":"RS256","kid":"` + s.KeyID() + `","typ":"JWT"}`; string(header) != want {
		t.Errorf("header = %s, want %s", header, want)
	}
	var got map[string]any
	if err := json.Unmarshal(claims, &got); err != nil {
		t.Fatalf("claims %s: %v", claims, err)
	}
	want := map[string]any{
		"iss": "my-issuer", "sub": "alice", "aud": "container_registry",
		"iat": float64(now.Unix()), "nbf": float64(now.Unix() - 5), "exp": float64(now.Add(5 * time.Minute).Unix()),
		"access": []any{map[string]any{"type": "repository", "name": "g/p", "actions": []any{"pull"}}},
	}
	jti, _ := got["jti"].(string)
	delete(got, "jti")
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(jti) {
		t.Errorf("jti = %q, want a random UUID", jti)
	}
	if gj, wj := mustJSON(got), mustJSON(want); gj != wj {
		t.Errorf("claims = %s, want %s", gj, wj)
	}

	// Anonymous: no sub; nothing granted: "access":[], never null.
	c, _ = NewClaims("i", "", now, time.Minute, nil)
	tok, _ = s.Sign(c)
	_, claims = decodeJWT(t, tok, s.Public())
	if strings.Contains(string(claims), `"sub"`) || !strings.Contains(string(claims), `"access":[]`) {
		t.Errorf("anonymous claims = %s, want no sub and access []", claims)
	}
	c2, _ := NewClaims("i", "", now, time.Minute, nil)
	if c.ID == c2.ID {
		t.Errorf("two tokens share jti %s", c.ID)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestNewSignerNoKey(t *testing.T) {
	if _, err := NewSigner(nil, "x"); err == nil {
		t.Error("NewSigner(nil) = nil error")
	}
}

func TestKeyAndCert(t *testing.T) {
	k := key(t)
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	cert, err := SelfSignedCert(k, "keygate-issuer", now)
	if err != nil {
		t.Fatalf("SelfSignedCert: %v", err)
	}
	if err := CheckCert(cert, k); err != nil {
		t.Errorf("CheckCert(own cert) = %v", err)
	}
	other, err := rsa.GenerateKey(strings.NewReader(strings.Repeat("another-deterministic-source-", 400)), 1024)
	if err == nil {
		if err := CheckCert(cert, other); err == nil {
			t.Error("CheckCert(cert of another key) = nil")
		}
	}
	for _, bad := range []string{"", "garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"} {
		if err := CheckCert([]byte(bad), k); err == nil {
			t.Errorf("CheckCert(%q) = nil", bad)
		}
		if _, err := ParseKey([]byte(bad)); err == nil {
			t.Errorf("ParseKey(%q) = nil", bad)
		}
	}
	if _, err := ParseKey(cert); err == nil {
		t.Error("ParseKey(certificate) = nil error")
	}
}

func TestTokenBlock(t *testing.T) {
	got := TokenBlock("http://localhost:8080/jwt/auth", "keygate-issuer", "/data/registry/token.crt")
	want := "auth:\n  token:\n    realm: http://localhost:8080/jwt/auth\n    service: container_registry\n" +
		"    issuer: keygate-issuer\n    rootcertbundle: /data/registry/token.crt\n"
	if got != want {
		t.Errorf("TokenBlock = %q, want %q", got, want)
	}
}

// Package secret makes and reads token strings: generation, the checksum that refuses a
// mistyped or forged string before any lookup, and the keyed digest that is all a store
// ever keeps.
package secret

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// Token is a plaintext token. It redacts itself everywhere it could leak (fmt, slog,
// JSON); Reveal is the one way to read it, for the response that hands it to its owner.
type Token struct{ s string }

const redacted = "[REDACTED]"

// Reveal returns the plaintext. Call it only to hand the token to its owner.
func (t Token) Reveal() string { return t.s }

// String redacts.
func (t Token) String() string { return redacted }

// GoString redacts.
func (t Token) GoString() string { return redacted }

// Format redacts for every verb.
func (t Token) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue redacts.
func (t Token) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts.
func (t Token) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// IsZero reports whether t holds no token.
func (t Token) IsZero() bool { return t.s == "" }

// Prefix returns the token's type prefix (everything before the random body).
func (t Token) Prefix() string { return t.s[:len(t.s)-tailLen] }

// Shape of a token: prefix, then bodyLen characters of base64url over randomBytes bytes of
// crypto/rand (160 bits), then the CRC-32 of prefix+body in base 36, zero-padded to crcLen.
const (
	randomBytes = 20
	bodyLen     = 27 // base64url, no padding, of 20 bytes
	crcLen      = 7
	tailLen     = bodyLen + crcLen
	// MaxPrefixLen bounds a configurable prefix, so a pasted paragraph is refused early.
	MaxPrefixLen = 20
)

// ErrMalformed is returned for strings that are not Keygate tokens (wrong shape or
// checksum). Callers answer it as an unknown token, without a lookup.
var ErrMalformed = errors.New("secret: malformed token")

// PrefixPersonal is the default prefix of the personal-access-token family; PrefixJob of
// CI/CD job tokens. Secret scanners know both; they never change once shipped.
const (
	PrefixPersonal = "glpat-"
	PrefixJob      = "glcbt-"
)

// ValidPrefix reports whether p may be configured as a token prefix: 1 to MaxPrefixLen
// characters of letters, digits, '-' and '_'.
func ValidPrefix(p string) bool {
	if p == "" || len(p) > MaxPrefixLen {
		return false
	}
	for _, c := range []byte(p) {
		if !isTokenByte(c) {
			return false
		}
	}
	return true
}

func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// Generate makes a new token with the given prefix.
func Generate(prefix string) (Token, error) {
	if !ValidPrefix(prefix) {
		return Token{}, fmt.Errorf("secret: invalid prefix %q", prefix)
	}
	var raw [randomBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Token{}, fmt.Errorf("secret: random: %w", err)
	}
	var b strings.Builder
	b.Grow(len(prefix) + tailLen)
	b.WriteString(prefix)
	body := make([]byte, bodyLen)
	base64.RawURLEncoding.Encode(body, raw[:])
	b.Write(body)
	b.WriteString(checksum(b.String()))
	return Token{b.String()}, nil
}

func checksum(s string) string {
	c := strconv.FormatUint(uint64(crc(s)), 36)
	return strings.Repeat("0", crcLen-len(c)) + c
}

// Parse checks a presented string's shape and checksum. It does not allocate for a
// well-formed token beyond the Token itself, and never consults a store.
func Parse(s string) (Token, error) {
	if len(s) <= tailLen || len(s) > tailLen+MaxPrefixLen {
		return Token{}, ErrMalformed
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return Token{}, ErrMalformed
		}
	}
	split := len(s) - crcLen
	if !validChecksum(s[:split], s[split:]) {
		return Token{}, ErrMalformed
	}
	return Token{s}, nil
}

// validChecksum compares without building the expected string.
func validChecksum(payload, sum string) bool {
	want, err := strconv.ParseUint(sum, 36, 32)
	if err != nil {
		return false
	}
	return uint32(want) == crc(payload) && len(sum) == crcLen
}

// crc is CRC-32 (IEEE) over a string without converting it to a byte slice, which would
// allocate on the verification path.
func crc(s string) uint32 {
	c := ^uint32(0)
	for i := 0; i < len(s); i++ {
		c = crc32.IEEETable[byte(c)^s[i]] ^ (c >> 8)
	}
	return ^c
}

// Digest is the keyed digest a store keeps in place of a token.
type Digest [sha256.Size]byte

// Digester computes keyed digests (HMAC-SHA-256 under the instance secret). It keeps
// hash states in a pool so the hot path does not allocate.
type Digester struct{ pool sync.Pool }

// MinKeyLen is the shortest instance secret accepted.
const MinKeyLen = 32

// NewDigester returns a Digester for the instance secret key.
func NewDigester(key []byte) (*Digester, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("secret: key is %d bytes, want at least %d", len(key), MinKeyLen)
	}
	k := append([]byte(nil), key...)
	d := &Digester{}
	d.pool.New = func() any { return &digestState{h: hmac.New(sha256.New, k), buf: make([]byte, 0, 64)} }
	return d, nil
}

// Digest returns the keyed digest of t.
func (d *Digester) Digest(t Token) Digest { return d.sum(t.s) }

// Derive returns a key for one purpose, derived from the instance secret (HMAC under
// it of a label). Labels start with a NUL byte, which no token holds, so a derived key
// is never the digest of a token.
func (d *Digester) Derive(label string) Digest { return d.sum("\x00keygate:" + label) }

// digestState is one pooled HMAC with scratch space, so that neither the input nor the
// sum escapes to the heap per call.
type digestState struct {
	h   hash.Hash
	buf []byte
	sum []byte
}

func (d *Digester) sum(s string) Digest {
	st := d.pool.Get().(*digestState)
	st.h.Reset()
	st.buf = append(st.buf[:0], s...)
	_, _ = st.h.Write(st.buf)
	st.sum = st.h.Sum(st.sum[:0])
	var out Digest
	copy(out[:], st.sum)
	d.pool.Put(st)
	return out
}

// Equal compares two digests in constant time.
func Equal(a, b []byte) bool { return hmac.Equal(a, b) }

// Matches reports in constant time whether stored holds this digest. Unlike Equal it
// keeps d on the stack, which the verification path relies on.
func (d Digest) Matches(stored []byte) bool {
	if len(stored) != len(d) {
		return false
	}
	var v byte
	for i := range d {
		v |= d[i] ^ stored[i]
	}
	return v == 0
}

// Fingerprint is the unkeyed SHA-256 of a token, hex-encoded: what an audit log may hold
// so that a leak report can be matched without the instance secret.
func Fingerprint(t Token) string {
	sum := sha256.Sum256([]byte(t.s))
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 2*len(sum))
	for i, c := range sum {
		out[2*i], out[2*i+1] = hexdigits[c>>4], hexdigits[c&0xf]
	}
	return string(out)
}

// NewKey returns a fresh random instance secret.
func NewKey() ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("secret: random: %w", err)
	}
	return k, nil
}

// Wrap holds a token read from a user (stdin, a token file) without checking its shape:
// client commands carry other servers' tokens, whose format Keygate does not define.
func Wrap(s string) Token { return Token{s} }

// ForTest wraps a string as a Token without checks; tests use it to present garbage.
func ForTest(s string) Token { return Token{s} }

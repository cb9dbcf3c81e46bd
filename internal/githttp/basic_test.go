package githttp

import (
	"encoding/base64"
	"strings"
	"testing"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

var basicCases = []struct {
	name, header   string
	user, password string
	basic, ok      bool
}{
	{name: "oauth2", header: "Basic " + b64("oauth2:glpat-abc"), user: "oauth2", password: "glpat-abc", basic: true, ok: true},
	{name: "any username", header: "Basic " + b64("whoever:tok"), user: "whoever", password: "tok", basic: true, ok: true},
	{name: "empty username", header: "Basic " + b64(":tok"), user: "", password: "tok", basic: true, ok: true},
	{name: "empty password", header: "Basic " + b64("alice:"), user: "alice", password: "", basic: true, ok: true},
	{name: "colon in password", header: "Basic " + b64("u:a:b:c"), user: "u", password: "a:b:c", basic: true, ok: true},
	{name: "scheme case", header: "bAsIc " + b64("u:p"), user: "u", password: "p", basic: true, ok: true},
	{name: "surrounding space", header: "  Basic   " + b64("u:p") + "  ", user: "u", password: "p", basic: true, ok: true},
	{name: "no padding", header: "Basic " + strings.TrimRight(b64("u:pw"), "="), user: "u", password: "pw", basic: true, ok: true},
	{name: "job token user", header: "Basic " + b64("gitlab-ci-token:glcbt-x"), user: "gitlab-ci-token", password: "glcbt-x", basic: true, ok: true},
	{name: "no colon", header: "Basic " + b64("justatoken"), basic: true},
	{name: "not base64", header: "Basic !!!", basic: true},
	{name: "scheme only", header: "Basic", basic: true},
	{name: "bearer", header: "Bearer glpat-abc"},
	{name: "empty", header: ""},
	{name: "other scheme", header: "Negotiate abc"},
	{name: "prefix only", header: "Basicx " + b64("u:p")},
}

func TestParseBasic(t *testing.T) {
	for _, tc := range basicCases {
		t.Run(tc.name, func(t *testing.T) {
			u, p, basic, ok := ParseBasic(tc.header)
			if u != tc.user || p != tc.password || basic != tc.basic || ok != tc.ok {
				t.Errorf("ParseBasic(%q) = %q, %q, %v, %v, want %q, %q, %v, %v", tc.header, u, p, basic, ok, tc.user, tc.password, tc.basic, tc.ok)
			}
		})
	}
}

// FuzzBasicAuth: the parser never panics, accepts only the Basic scheme, and what it
// accepts round-trips through the standard encoding.
func FuzzBasicAuth(f *testing.F) {
	for _, tc := range basicCases {
		f.Add(tc.header)
	}
	f.Fuzz(func(t *testing.T, h string) {
		u, p, basic, ok := ParseBasic(h)
		if ok && !basic {
			t.Fatalf("ParseBasic(%q): ok without the Basic scheme", h)
		}
		if !ok {
			if u != "" || p != "" {
				t.Fatalf("ParseBasic(%q) = %q, %q on failure", h, u, p)
			}
			return
		}
		if strings.Contains(u, ":") {
			t.Fatalf("ParseBasic(%q): username %q holds a colon", h, u)
		}
		u2, p2, _, ok2 := ParseBasic("Basic " + b64(u+":"+p))
		if !ok2 || u2 != u || p2 != p {
			t.Fatalf("ParseBasic(%q) = %q, %q does not round-trip (%q, %q, %v)", h, u, p, u2, p2, ok2)
		}
	})
}

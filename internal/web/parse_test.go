package web

import (
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

var redirectCases = []struct{ in, want string }{
	{"/", "/"},
	{"/-/user_settings/personal_access_tokens", "/-/user_settings/personal_access_tokens"},
	{"/admin/credentials?owner=alice", "/admin/credentials?owner=alice"},
	{"", "/"},
	{"//evil.example/", "/"},
	{"/\\evil.example", "/"},
	{"/\t/evil.example", "/"},
	{"/\n/evil.example", "/"},
	{"https://evil.example/", "/"},
	{"javascript:alert(1)", "/"},
	{"evil.example", "/"},
}

func TestSafeRedirect(t *testing.T) {
	for _, c := range redirectCases {
		if got := safeRedirect(c.in); got != c.want {
			t.Errorf("safeRedirect(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzSafeRedirect: whatever comes in, what goes out is a path on this site as a
// browser reads it.
func FuzzSafeRedirect(f *testing.F) {
	for _, c := range redirectCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := safeRedirect(in)
		if out != "/" && out != in {
			t.Fatalf("safeRedirect(%q) = %q: rewritten, not kept or refused", in, out)
		}
		cleaned := strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			if r == '\\' {
				return '/'
			}
			return r
		}, out)
		u, err := url.Parse(cleaned)
		if !strings.HasPrefix(cleaned, "/") || strings.HasPrefix(cleaned, "//") || err != nil || u.Host != "" || u.Scheme != "" {
			t.Fatalf("safeRedirect(%q) = %q leaves the site", in, out)
		}
	})
}

var tokenFormCases = []struct {
	name   string
	form   url.Values
	fields []string // fields with an error
}{
	{"ok", url.Values{"name": {"ci"}, "scopes": {"api", "read_user"}, "expires_at": {"2026-07-01"}}, nil},
	{"no expiry", url.Values{"name": {"ci"}, "scopes": {"api"}}, nil},
	{"blank", url.Values{}, []string{"name", "scopes"}},
	{"bad date", url.Values{"name": {"ci"}, "scopes": {"api"}, "expires_at": {"2026-13-01"}}, []string{"expires_at"}},
	{"unknown scope", url.Values{"name": {"ci"}, "scopes": {"root"}}, []string{"scopes"}},
	{"admin scope refused", url.Values{"name": {"ci"}, "scopes": {"sudo"}}, []string{"scopes"}},
	{"duplicates kept once", url.Values{"name": {"ci"}, "scopes": {"api", "api"}}, nil},
}

func notAdmin(s keygate.Scope) bool { return !s.Admin() }

func TestParseTokenForm(t *testing.T) {
	for _, c := range tokenFormCases {
		t.Run(c.name, func(t *testing.T) {
			in, errs := parseTokenForm(c.form, notAdmin)
			for _, f := range c.fields {
				if errs[f] == "" {
					t.Errorf("parseTokenForm(%v): no error on %s (errors %v)", c.form, f, errs)
				}
			}
			if len(errs) != len(c.fields) {
				t.Errorf("parseTokenForm(%v) errors = %v, want on %v", c.form, errs, c.fields)
			}
			if len(errs) == 0 && (in.Name == "" || len(in.Scopes) == 0) {
				t.Errorf("parseTokenForm(%v) = %+v without errors", c.form, in)
			}
		})
	}
}

// FuzzParseTokenForm: any form body parses without panicking, and what it lets through
// holds only offered scopes, once each, and a name.
func FuzzParseTokenForm(f *testing.F) {
	for _, c := range tokenFormCases {
		f.Add(c.form.Encode())
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		in, errs := parseTokenForm(form, notAdmin)
		if len(errs) > 0 {
			return
		}
		if strings.TrimSpace(in.Name) == "" || len(in.Scopes) == 0 {
			t.Fatalf("parseTokenForm(%q) = %+v without errors", body, in)
		}
		seen := map[keygate.Scope]bool{}
		for _, s := range in.Scopes {
			if !s.Valid() || s.Admin() || seen[s] {
				t.Fatalf("parseTokenForm(%q) let scope %q through", body, s)
			}
			seen[s] = true
		}
	})
}

var settingsCases = []struct {
	name   string
	form   url.Values
	fields []string
}{
	{"defaults", url.Values{"personal_access_token_prefix": {"glpat-"}, "inactive_resource_access_tokens_delete_after_days": {"30"}}, nil},
	{"max lifetime", url.Values{"max_personal_access_token_lifetime": {"90"}, "inactive_resource_access_tokens_delete_after_days": {"0"}}, nil},
	{"max lifetime too long", url.Values{"max_personal_access_token_lifetime": {"366"}, "inactive_resource_access_tokens_delete_after_days": {"0"}}, []string{"max_personal_access_token_lifetime"}},
	{"max lifetime not a number", url.Values{"max_personal_access_token_lifetime": {"a"}, "inactive_resource_access_tokens_delete_after_days": {"0"}}, []string{"max_personal_access_token_lifetime"}},
	{"days missing", url.Values{}, []string{"inactive_resource_access_tokens_delete_after_days"}},
	{"days negative", url.Values{"inactive_resource_access_tokens_delete_after_days": {"-1"}}, []string{"inactive_resource_access_tokens_delete_after_days"}},
}

func TestParseSettings(t *testing.T) {
	for _, c := range settingsCases {
		t.Run(c.name, func(t *testing.T) {
			_, errs := parseSettings(keygate.DefaultSettings(), c.form)
			if len(errs) != len(c.fields) {
				t.Fatalf("parseSettings(%v) errors = %v, want on %v", c.form, errs, c.fields)
			}
			for _, f := range c.fields {
				if errs[f] == "" {
					t.Errorf("no error on %s", f)
				}
			}
		})
	}
}

// FuzzParseSettings: accepted settings are within the bounds the form promises.
func FuzzParseSettings(f *testing.F) {
	for _, c := range settingsCases {
		f.Add(c.form.Encode())
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		st, errs := parseSettings(keygate.DefaultSettings(), form)
		if len(errs) > 0 {
			return
		}
		if st.MaxPersonalAccessTokenLifetime < 0 || st.MaxPersonalAccessTokenLifetime > keygate.DefaultTokenLifetimeDays || st.InactiveResourceTokensDeleteAfterDays < 0 {
			t.Fatalf("parseSettings(%q) accepted %+v", body, st)
		}
	})
}

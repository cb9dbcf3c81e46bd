package doctor_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/doctor"
	"github.com/keygate/keygate/internal/secret"
)

// fakeRegistry is a distribution registry's /v2/ challenge and a token service that
// answers as GitLab's /jwt/auth does (spec gitlab-registry-auth §2-3): 401 for a bad
// password, 403 for a token without a registry scope, else 200 with a JWT whose access
// lists pull on the repositories in grants. A trusted registry accepts the JWT back; an
// untrusted one (another signing key) refuses it. TestDoctorRealRegistry runs the same
// check against Keygate's /jwt/auth and Debian's registry.
func fakeRegistry(t *testing.T, trusted bool, valid map[string]string, grants map[string][]string) string {
	t.Helper()
	var realm string
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("service") != "container_registry" {
			w.WriteHeader(404)
			return
		}
		_, pass, ok := r.BasicAuth()
		kind, known := valid[pass]
		switch {
		case !ok || !known:
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"HTTP Basic: Access denied."}]}`))
			return
		case kind == "noregistry":
			w.WriteHeader(403)
			_, _ = w.Write([]byte(`{"errors":[{"code":"DENIED","message":"access forbidden"}]}`))
			return
		}
		type access struct {
			Type    string   `json:"type"`
			Name    string   `json:"name"`
			Actions []string `json:"actions"`
		}
		var acc []access
		for _, repo := range grants[pass] {
			acc = append(acc, access{"repository", repo, []string{"pull"}})
		}
		claims, _ := json.Marshal(map[string]any{"aud": "container_registry", "access": acc})
		jwt := "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(claims) + ".sig"
		_ = json.NewEncoder(w).Encode(map[string]string{"token": jwt})
	}))
	t.Cleanup(auth.Close)
	realm = auth.URL + "/jwt/auth"
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case trusted && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer eyJ") && r.URL.Path == "/v2/":
			w.WriteHeader(200)
		case trusted && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer eyJ"):
			w.WriteHeader(404) // no image pushed yet
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`",service="container_registry"`)
			w.WriteHeader(401)
		}
	}))
	t.Cleanup(reg.Close)
	return reg.URL
}

func TestDoctorRegistry(t *testing.T) {
	f := newFixture(t)
	srv := f.srv
	pull := issue(t, srv, f.dev.ID, 90, keygate.ScopeAPI)
	noReg := issue(t, srv, f.dev.ID, 90, keygate.ScopeAPI)
	noAccess := issue(t, srv, f.dev.ID, 90, keygate.ScopeAPI)
	valid := map[string]string{pull: "ok", noReg: "noregistry", noAccess: "ok"}
	grants := map[string][]string{pull: {"acme/app"}}
	reg := fakeRegistry(t, true, valid, grants)
	cases := []struct {
		name, tok, project, status, finding string
	}{
		{"pull granted", pull, "acme/app", doctor.OK, ""},
		{"login only", pull, "", doctor.OK, ""},
		{"no registry scope", noReg, "", doctor.Fail, doctor.FindingRegistryDenied},
		{"nothing granted", noAccess, "acme/app", doctor.Fail, doctor.FindingRegistryDenied},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runWithRegistry(t, f, c.tok, c.project, reg)
			got := findCheck(r, "registry")
			if got.Status != c.status || got.Finding != c.finding {
				t.Fatalf("registry check = %+v, want %s %s", got, c.status, c.finding)
			}
			if b, _ := json.Marshal(r); strings.Contains(string(b), "eyJ") {
				t.Fatal("the report holds the registry JWT")
			}
		})
	}
	// A token the token service does not know (the registry belongs to another instance).
	r := runWithRegistry(t, f, issue(t, srv, f.dev.ID, 90, keygate.ScopeAPI), "", reg)
	if got := findCheck(r, "registry"); got.Finding != doctor.FindingRegistryRefused || !strings.Contains(got.Cause, "401") {
		t.Fatalf("registry check with an unknown token = %+v", got)
	}
	// A registry that does not trust the token service's signature.
	r = runWithRegistry(t, f, pull, "acme/app", fakeRegistry(t, false, valid, grants))
	if got := findCheck(r, "registry"); got.Finding != doctor.FindingRegistryUntrusted || r.ExitCode != 1 {
		t.Fatalf("registry check against an untrusting registry = %+v exit %d", got, r.ExitCode)
	}
	// Not a registry: the instance itself answers /v2/ without a Bearer challenge.
	r = runWithRegistry(t, f, pull, "", srv.URL)
	if got := findCheck(r, "registry"); got.Status != doctor.Error || r.ExitCode != 2 {
		t.Fatalf("registry check against a non-registry = %+v exit %d", got, r.ExitCode)
	}
}

func runWithRegistry(t *testing.T, f fixture, tok, project, reg string) doctor.Report {
	t.Helper()
	return doctor.Run(t.Context(), doctor.Config{URL: f.srv.URL, Token: secret.Wrap(tok), Project: project, Registry: reg, Now: f.srv.Clock.Now})
}

func TestParseChallenge(t *testing.T) {
	cases := []struct {
		in     string
		scheme string
		params map[string]string
		ok     bool
	}{
		{`Bearer realm="https://gitlab.example.com/jwt/auth",service="container_registry"`, "Bearer",
			map[string]string{"realm": "https://gitlab.example.com/jwt/auth", "service": "container_registry"}, true},
		{`Bearer realm="r", service=container_registry, scope="repository:a/b:pull,push"`, "Bearer",
			map[string]string{"realm": "r", "service": "container_registry", "scope": "repository:a/b:pull,push"}, true},
		{`Basic realm="GitLab"`, "Basic", map[string]string{"realm": "GitLab"}, true},
		{`Bearer`, "Bearer", map[string]string{}, true},
		{``, "", nil, false},
		{`Bearer realm="unterminated`, "", nil, false},
		{`Bearer realm`, "", nil, false},
		{`Bearer realm="a" service="b"`, "", nil, false},
	}
	for _, c := range cases {
		s, p, ok := doctor.ParseChallenge(c.in)
		if ok != c.ok || s != c.scheme || len(p) != len(c.params) {
			t.Errorf("ParseChallenge(%q) = %q %v %v; want %q %v %v", c.in, s, p, ok, c.scheme, c.params, c.ok)
			continue
		}
		for k, v := range c.params {
			if p[k] != v {
				t.Errorf("ParseChallenge(%q)[%s] = %q, want %q", c.in, k, p[k], v)
			}
		}
	}
}

func FuzzParseChallenge(f *testing.F) {
	for _, s := range []string{`Bearer realm="r",service="s"`, `Basic realm="GitLab"`, `Bearer realm="x`, `Bearer a=b, c="d"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		scheme, params, ok := doctor.ParseChallenge(s)
		if ok && (scheme == "" || params == nil) {
			t.Fatalf("ParseChallenge(%q) = %q %v, ok", s, scheme, params)
		}
	})
}

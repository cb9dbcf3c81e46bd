package forwardauth

import (
	"net/http/httptest"
	"strings"
	"testing"
)

const matchFile = `services:
  - name: billing-read
    hosts: [billing.internal]
    paths: [/api/]
    methods: [GET, HEAD]
  - name: billing-write
    hosts: [billing.internal]
    paths: [/api]
  - name: wild
    hosts: ["*.apps.internal"]
  - name: ported
    hosts: ["docs.internal:8443"]
  - name: public
    paths: [/public/]
    anonymous: true
`

func TestMatch(t *testing.T) {
	t.Parallel()
	p, err := Parse([]byte(matchFile))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method, host, path, want string
	}{
		{"GET", "billing.internal", "/api/invoices", "billing-read"},
		{"HEAD", "billing.internal:8080", "/api/", "billing-read"},
		{"GET", "billing.internal", "/api", "billing-read"}, // "/api/" covers "/api" itself
		{"POST", "billing.internal", "/api/invoices", "billing-write"},
		{"GET", "billing.internal", "/apix", ""},
		{"GET", "other.internal", "/api/invoices", ""},
		{"GET", "x.apps.internal", "/", "wild"},
		{"GET", "a.b.apps.internal", "/z", "wild"},
		{"GET", "apps.internal", "/", ""},
		{"GET", "docs.internal:8443", "/", "ported"},
		{"GET", "docs.internal", "/", ""},
		{"GET", "anything", "/public/x", "public"},
		{"GET", "anything", "/private", ""},
	}
	for _, tc := range cases {
		got := p.Match(Request{Method: tc.method, Host: tc.host, Path: tc.path})
		name := ""
		if got != nil {
			name = got.Name
		}
		if name != tc.want {
			t.Errorf("Match(%s %s%s) = %q, want %q", tc.method, tc.host, tc.path, name, tc.want)
		}
	}
}

var cleanPathCases = []struct {
	in, want string
	ok       bool
}{
	{"/api/x?token=1", "/api/x", true},
	{"/public/../admin", "/admin", true},
	{"/public/%2e%2e/admin", "/admin", true},
	{"/a//b/", "/a/b/", true},
	{"", "/", true},
	{"api", "/api", true},
	{"/a%zz", "", false},
	{"/a%00b", "", false},
	{"http://host/x/../y?q", "/y", true},
	{"/#frag", "/", true},
}

func TestCleanPath(t *testing.T) {
	t.Parallel()
	for _, tc := range cleanPathCases {
		got, ok := cleanPath(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("cleanPath(%q) = %q, %v, want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, tc := range cleanPathCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := cleanPath(in)
		if !ok {
			return
		}
		if !strings.HasPrefix(got, "/") || strings.Contains(got, "/../") || strings.HasSuffix(got, "/..") {
			t.Fatalf("cleanPath(%q) = %q: not a clean absolute path", in, got)
		}
	})
}

func TestOriginalRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		headers map[string]string
		host    string
		want    Request
	}{
		{"nginx", map[string]string{"X-Original-Method": "post", "X-Original-URI": "/api/x?y=1", "X-Forwarded-Host": "spoofed"}, "Billing.Internal", Request{"POST", "billing.internal", "/api/x"}},
		{"caddy and traefik", map[string]string{"X-Forwarded-Method": "DELETE", "X-Forwarded-Uri": "/a/b", "X-Forwarded-Host": "svc.internal", "X-Forwarded-Proto": "https"}, "keygate:8080", Request{"DELETE", "svc.internal", "/a/b"}},
		{"bare", nil, "keygate", Request{"GET", "keygate", "/"}},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", "/-/gate", nil)
		r.Host = tc.host
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		got, ok := originalRequest(r)
		if !ok || got != tc.want {
			t.Errorf("%s: originalRequest = %+v, %v, want %+v", tc.name, got, ok, tc.want)
		}
	}
}

var credentialCases = []struct {
	name    string
	headers map[string]string
	want    string
	job     bool
}{
	{"private token", map[string]string{"Private-Token": " glpat-a "}, "glpat-a", false},
	{"bearer", map[string]string{"Authorization": "bearer glpat-b"}, "glpat-b", false},
	{"basic password", map[string]string{"Authorization": "Basic dXNlcjpnbHBhdC1j"}, "glpat-c", false}, // user:glpat-c
	{"basic job", map[string]string{"Authorization": "Basic Z2l0bGFiLWNpLXRva2VuOmdsY2J0LWQ="}, "glcbt-d", true},
	{"job header", map[string]string{"Job-Token": "glcbt-e", "Private-Token": "glpat-x"}, "glcbt-e", true},
	{"basic without password", map[string]string{"Authorization": "Basic dXNlcg=="}, "", false},
	{"basic not base64", map[string]string{"Authorization": "Basic !!"}, "", false},
	{"other scheme", map[string]string{"Authorization": "Digest x"}, "", false},
	{"nothing", nil, "", false},
}

func TestCredential(t *testing.T) {
	t.Parallel()
	for _, tc := range credentialCases {
		r := httptest.NewRequest("GET", "/-/gate", nil)
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		got, job := credential(r)
		if got != tc.want || job != tc.job {
			t.Errorf("%s: credential = %q, %v, want %q, %v", tc.name, got, job, tc.want, tc.job)
		}
	}
}

func FuzzBasicCredentials(f *testing.F) {
	for _, tc := range credentialCases {
		if v, ok := strings.CutPrefix(tc.headers["Authorization"], "Basic "); ok {
			f.Add(v)
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		user, pass, ok := BasicCredentials(in)
		if !ok && (user != "" || pass != "") {
			t.Fatalf("BasicCredentials(%q) = %q, %q, false: values without ok", in, user, pass)
		}
		if ok && strings.Contains(user, ":") {
			t.Fatalf("BasicCredentials(%q) user %q holds the separator", in, user)
		}
	})
}

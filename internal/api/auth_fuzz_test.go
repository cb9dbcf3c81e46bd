package api

import (
	"strings"
	"testing"
)

var bearerTokenCases = []struct {
	h      string
	want   string
	wantOK bool
}{
	{h: "Bearer glpat-abc123", want: "glpat-abc123", wantOK: true},
	{h: "bearer glpat-abc123", want: "glpat-abc123", wantOK: true},
	{h: "BEARER glpat-abc123", want: "glpat-abc123", wantOK: true},
	{h: "BeArEr glpat-abc123", want: "glpat-abc123", wantOK: true},
	{h: "  Bearer   glpat-abc123  ", want: "glpat-abc123", wantOK: true},
	{h: "Bearer glpat-abc123\t", want: "glpat-abc123", wantOK: true},
	{h: "Bearer x", want: "x", wantOK: true},
	{h: "", wantOK: false},
	{h: "Bearer", wantOK: false},
	{h: "Bearer ", wantOK: false},
	{h: "Bearer    ", wantOK: false},
	{h: "Bearer\tglpat-abc123", wantOK: false},
	{h: "Bearerglpat-abc123", wantOK: false},
	{h: "Basic x", wantOK: false},
	{h: "Basic dXNlcjpwYXNz", wantOK: false},
	{h: "Token glpat-abc123", wantOK: false},
	{h: "glpat-abc123", wantOK: false},
	{h: "Bearer a b", wantOK: false},
	{h: "Bearer a\tb", wantOK: false},
	{h: "Bear glpat-abc123", wantOK: false},
	{h: "Bearers glpat-abc123", wantOK: false},
	{h: " Basic Bearer x", wantOK: false},
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	for _, tc := range bearerTokenCases {
		t.Run(tc.h, func(t *testing.T) {
			got, ok := BearerToken(tc.h)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("BearerToken(%q) = %q, %v, want %q, %v", tc.h, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func FuzzBearerToken(f *testing.F) {
	for _, tc := range bearerTokenCases {
		f.Add(tc.h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := BearerToken(h)
		if !ok {
			if tok != "" {
				t.Fatalf("BearerToken(%q) = %q, false, want an empty token when not ok", h, tok)
			}
			return
		}
		if tok == "" {
			t.Fatalf("BearerToken(%q) = \"\", true, want a non-empty token", h)
		}
		if strings.ContainsAny(tok, " \t") {
			t.Fatalf("BearerToken(%q) = %q, true, want no spaces or tabs in the token", h, tok)
		}
		if !strings.Contains(h, tok) {
			t.Fatalf("BearerToken(%q) = %q, true, want a substring of the header", h, tok)
		}
		if scheme, _, _ := strings.Cut(strings.TrimSpace(h), " "); !strings.EqualFold(scheme, "Bearer") {
			t.Fatalf("BearerToken(%q) = %q, true, but the scheme is %q", h, tok, scheme)
		}
		// The scheme is case-insensitive: every casing of it gives the same token.
		for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
			again, ok := BearerToken(scheme + " " + tok)
			if !ok || again != tok {
				t.Fatalf("BearerToken(%q) = %q, %v, want %q, true", scheme+" "+tok, again, ok, tok)
			}
		}
		if got, ok := BearerToken("Basic " + tok); ok {
			t.Fatalf("BearerToken(%q) = %q, true, want false", "Basic "+tok, got)
		}
	})
}

package doctor_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/doctor"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

// TestDoctorRealRegistry: doctor --registry end to end against Keygate's own /jwt/auth
// and Debian's distribution registry configured with Keygate's auth.token block (realm
// http://localhost:PORT/jwt/auth, service container_registry). The registry host is given
// bare, as users type it: on loopback doctor speaks plain HTTP, as docker does.
func TestDoctorRealRegistry(t *testing.T) {
	srv := keygatetest.NewServerWith(t, keygatetest.Options{Registry: true})
	f := newFixtureOn(t, srv)
	// The registry checks iat, nbf and exp against the real time (set after the fixture:
	// the root token expires long before today).
	srv.Clock.Set(time.Now())
	host := keygatetest.StartRegistry(t, srv)

	rw := issue(t, srv, f.dev.ID, 90, keygate.ScopeReadRegistry, keygate.ScopeWriteRegistry)
	repoOnly := issue(t, srv, f.dev.ID, 90, keygate.ScopeReadRepository)
	outsider := issue(t, srv, f.out.ID, 90, keygate.ScopeReadRegistry)
	exp := keygate.DateOf(srv.Clock.Now()).AddDays(90)
	iss, err := srv.Service.CreatePersonalToken(context.Background(), authz.SystemSubject(), f.dev.ID, service.TokenInput{
		Name: "revoked", Scopes: keygate.Scopes{keygate.ScopeReadRegistry, keygate.ScopeWriteRegistry}, ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Service.Revoke(context.Background(), authz.SystemSubject(), iss.Token.ID); err != nil {
		t.Fatal(err)
	}
	revoked := iss.Secret.Reveal()

	cases := []struct {
		name, tok, project, status, finding, fix string
	}{
		{"read and write registry, with the project", rw, "acme/app", doctor.OK, "", ""},
		{"read and write registry, login only", rw, "", doctor.OK, "", ""},
		{"read_repository only", repoOnly, "acme/app", doctor.Fail, doctor.FindingRegistryDenied, "add the read_registry scope"},
		{"no member of the project", outsider, "acme/app", doctor.Fail, doctor.FindingRegistryDenied, "at least the Reporter role on acme/app"},
		{"revoked", revoked, "acme/app", doctor.Fail, doctor.FindingRegistryRefused, "create a new one with read_registry"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runWithRegistry(t, f, c.tok, c.project, host)
			got := findCheck(r, "registry")
			if got.Status != c.status || got.Finding != c.finding || !strings.Contains(got.Fix, c.fix) {
				t.Fatalf("registry check = %+v, want %s %s with fix %q", got, c.status, c.finding, c.fix)
			}
			if c.status == doctor.Fail && r.ExitCode != 1 {
				t.Fatalf("exit code = %d, want 1", r.ExitCode)
			}
			if b, _ := json.Marshal(r); strings.Contains(string(b), "eyJ") || strings.Contains(string(b), c.tok) {
				t.Fatal("the report holds the registry JWT or the token")
			}
		})
	}
	// The healthy token's whole report: a registry-only token skips the API checks it
	// cannot pass by design, and the report is all good.
	r := runWithRegistry(t, f, rw, "acme/app", host)
	if r.Status != doctor.OK || r.ExitCode != 0 || findCheck(r, "api").Status != doctor.Skip ||
		!strings.Contains(findCheck(r, "registry").Message, "pull access to acme/app") {
		t.Fatalf("report of the read/write registry token = %s exit %d %+v, want all good", r.Status, r.ExitCode, r.Checks)
	}
}

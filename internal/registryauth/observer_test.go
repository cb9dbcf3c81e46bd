package registryauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/registryauth"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/store"
)

type grantLog struct {
	mu    sync.Mutex
	calls []registryauth.Caller
	ips   []string
	acc   [][]registryauth.Access
}

func (g *grantLog) RegistryTokenGranted(_ context.Context, c registryauth.Caller, ip string, access []registryauth.Access) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls, g.ips, g.acc = append(g.calls, c), append(g.ips, ip), append(g.acc, access)
}

// TestGrantObserver: the audit hook hears of tokens that grant push, delete or "*", with
// the token's fingerprint, and of nothing else.
func TestGrantObserver(t *testing.T) {
	w := newWorld(t, keygatetest.Options{Registry: true})
	log := &grantLog{}
	h := registryauth.New(registryauth.Config{Service: w.srv.Service, Signer: w.srv.RegistrySigner, Grants: log})
	tok := w.pat("dev", keygate.ScopeReadRegistry, keygate.ScopeWriteRegistry)
	job := w.job("dev", w.p["app"])
	call := func(user, pass, scope string) int {
		req := httptest.NewRequest("GET", registryauth.Path+"?"+scopes(scope), nil)
		req.RemoteAddr = "192.0.2.7:1234"
		req.SetBasicAuth(user, pass)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, scope := range []string{"repository:grp/app:pull", "repository:pub/site:push,pull", "repository:grp/app:delete"} {
		if st := call("dev", tok, scope); st != 200 {
			t.Fatalf("%s = %d", scope, st)
		}
	}
	if len(log.calls) != 0 {
		t.Fatalf("observer heard of %d read-only grants, want none", len(log.calls))
	}
	call("dev", tok, "repository:grp/app:pull,push")
	call("gitlab-ci-token", job, "repository:grp/app:push")
	if len(log.calls) != 2 {
		t.Fatalf("observer calls = %d, want 2", len(log.calls))
	}
	fp := secret.Fingerprint(secret.ForTest(tok))
	if c := log.calls[0]; c.Fingerprint != fp || c.TokenID == 0 || c.Username != "dev" || log.ips[0] != "192.0.2.7" ||
		accessString(log.acc[0]) != `[{"type":"repository","name":"grp/app","actions":["pull","push"]}]` {
		t.Errorf("first call = %+v %s %s, want dev's token with fingerprint %s", c, log.ips[0], accessString(log.acc[0]), fp)
	}
	if c := log.calls[1]; c.Job == nil || c.Job.Project.ID != w.p["app"].ID || c.Fingerprint != secret.Fingerprint(secret.ForTest(job)) {
		t.Errorf("job call = %+v, want the job of app with its fingerprint", c)
	}
}

// TestGrantsAudited: through the server (its default observer), a registry token that
// lets a token push is an audit event under the project with the token's fingerprint; a
// pull-only one is not.
func TestGrantsAudited(t *testing.T) {
	w := newWorld(t, keygatetest.Options{Registry: true})
	tok := w.pat("dev", keygate.ScopeReadRegistry, keygate.ScopeWriteRegistry)
	for _, scope := range []string{"repository:grp/app:pull", "repository:grp/app:pull,push"} {
		req, _ := http.NewRequest("GET", w.srv.URL+registryauth.Path+"?"+scopes(scope), nil)
		req.SetBasicAuth("dev", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s = %d", scope, resp.StatusCode)
		}
	}
	evs, _, err := w.srv.Service.AuditEvents(context.Background(), authz.SystemSubject(), store.AuditFilter{Name: keygate.AuditRegistryGrant})
	if err != nil || len(evs) != 1 {
		t.Fatalf("registry grant events = %d, %v; want 1 (the push)", len(evs), err)
	}
	e := evs[0]
	if e.EntityType != keygate.AuditProject || e.EntityID != w.p["app"].ID || e.Fingerprint != secret.Fingerprint(secret.ForTest(tok)) || e.IP == "" {
		t.Errorf("event = %+v, want it under grp/app with dev's token fingerprint and the address", e)
	}
}

package registryauth_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

const (
	unauthorizedBody = `{"errors":[{"code":"UNAUTHORIZED","message":"HTTP Basic: Access denied. If a password was provided for Git authentication, ` +
		`the password was incorrect or you're required to use a token instead of a password. If a token was provided, it was either incorrect, ` +
		`expired, or improperly scoped. See http://keygate.test/help/user/profile/account/two_factor_authentication_troubleshooting.md` +
		`#error-http-basic-access-denied-if-a-password-was-provided-for-git-authentication-"}]}`
	deniedBody      = `{"errors":[{"code":"DENIED","message":"access forbidden"}],"http_status":403}`
	unavailableBody = `{"errors":[{"code":"UNAVAILABLE","message":"registry not enabled"}],"http_status":404}`
)

func TestJWTClaims(t *testing.T) {
	w := newWorld(t, keygatetest.Options{Registry: true})
	dev := w.pat("dev", keygate.ScopeReadRegistry, keygate.ScopeWriteRegistry)
	a := w.auth("GET", "dev", dev, scopes("repository:grp/app:pull,push")+"&account=dev&client_id=docker&offline_token=true")
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	header, c := token(t, a, w.srv.RegistrySigner.Public())
	if fmt.Sprint(header) != fmt.Sprint(map[string]any{"alg": "RS256", "kid": w.srv.RegistrySigner.KeyID(), "typ": "JWT"}) {
		t.Errorf("JWT header = %v, want RS256, kid %s, JWT and nothing else", header, w.srv.RegistrySigner.KeyID())
	}
	now := keygatetest.Start.Unix()
	if c.Iss != "keygate-issuer" || c.Sub == nil || *c.Sub != "dev" || c.Aud != "container_registry" ||
		c.Iat != now || c.Nbf != now-5 || c.Exp != now+300 || len(c.Jti) != 36 {
		t.Errorf("claims = %+v, want iss keygate-issuer, sub dev, aud container_registry (a string), iat now, nbf now-5s, exp now+5m, a jti", c)
	}
	if got := accessString(c.Access); got != `[{"type":"repository","name":"grp/app","actions":["pull","push"]}]` {
		t.Errorf("access = %s", got)
	}
	if strings.Contains(a.body, "refresh_token") || strings.Contains(a.body, "expires_in") {
		t.Errorf("body = %s, want only the token", a.body)
	}

	// The lifetime follows container_registry_token_expire_delay, read on every request,
	// on the service clock.
	st, _ := w.srv.Service.Settings(context.Background())
	st.ContainerRegistryTokenExpireDelay = 15
	if err := w.srv.Service.PutSettings(context.Background(), authz.SystemSubject(), st); err != nil {
		t.Fatal(err)
	}
	w.srv.Clock.Advance(time.Hour)
	_, c2 := token(t, w.auth("GET", "x", dev, scopes("repository:grp/app:pull")), w.srv.RegistrySigner.Public())
	if c2.Iat != now+3600 || c2.Exp-c2.Iat != 15*60 || c2.Jti == c.Jti {
		t.Errorf("after the setting and an hour: iat %d exp %d jti %s, want iat %d, exp iat+900, a new jti", c2.Iat, c2.Exp, c2.Jti, now+3600)
	}
}

func TestGrants(t *testing.T) {
	w := newWorld(t, keygatetest.Options{Registry: true})
	rw := []keygate.Scope{keygate.ScopeReadRegistry, keygate.ScopeWriteRegistry}
	dev, rep, gus, sam := w.pat("dev", rw...), w.pat("rep", rw...), w.pat("gus", rw...), w.pat("sam", rw...)
	mia, miaRW := w.pat("mia", keygate.ScopeAPI), w.pat("mia", rw...)
	root := w.srv.Token(t, 1, "root-registry", keygate.ScopeReadRegistry)
	readAPI := w.pat("dev", keygate.ScopeReadAPI)
	pushOnly := w.pat("dev", keygate.ScopeWriteRegistry)
	botDev := w.projectToken(w.p["app"], keygate.Developer, rw...)
	botRep := w.projectToken(w.p["app"], keygate.Reporter, rw...)
	disabled := w.project(authz.Subject{User: w.u["olga"]}, "off", keygate.Public, w.pubGroup(t))
	w.setRegistry(disabled, keygate.RegistryDisabled)
	membersOnly := w.project(authz.Subject{User: w.u["olga"]}, "members", keygate.Public, w.pubGroup(t))
	w.setRegistry(membersOnly, keygate.RegistryPrivate)

	for _, c := range []struct {
		name, user, pass string
		scopes           []string
		want             string
	}{
		{"Developer pulls and pushes", "dev", dev, []string{"repository:grp/app:pull,push"}, `[{"type":"repository","name":"grp/app","actions":["pull","push"]}]`},
		{"image below the project", "dev", dev, []string{"repository:grp/app/web:push,pull"}, `[{"type":"repository","name":"grp/app/web","actions":["push","pull"]}]`},
		{"two levels below", "dev", dev, []string{"repository:grp/app/a/b:pull"}, `[{"type":"repository","name":"grp/app/a/b","actions":["pull"]}]`},
		{"three levels below: no project", "dev", dev, []string{"repository:grp/app/a/b/c:pull"}, `[]`},
		{"name lower-cased", "dev", dev, []string{"repository:GRP/App:pull"}, `[{"type":"repository","name":"grp/app","actions":["pull"]}]`},
		{"Reporter: partial grant", "rep", rep, []string{"repository:grp/app:push,pull"}, `[{"type":"repository","name":"grp/app","actions":["pull"]}]`},
		{"Guest: nothing, still 200", "gus", gus, []string{"repository:grp/app:pull,push"}, `[]`},
		{"non-member of a private project", "sam", sam, []string{"repository:grp/app:pull"}, `[]`},
		{"anyone signed in pulls public", "sam", sam, []string{"repository:pub/site:pull,push"}, `[{"type":"repository","name":"pub/site","actions":["pull"]}]`},
		{"signed in pulls internal", "sam", sam, []string{"repository:int/tool:pull"}, `[{"type":"repository","name":"int/tool","actions":["pull"]}]`},
		{"each scope on its own", "rep", rep, []string{"repository:grp/app:pull,push", "repository:pub/site:pull"},
			`[{"type":"repository","name":"grp/app","actions":["pull"]},{"type":"repository","name":"pub/site","actions":["pull"]}]`},
		{"space-separated in one parameter", "dev", dev, []string{"repository:grp/app:pull repository:pub/site:pull"},
			`[{"type":"repository","name":"grp/app","actions":["pull"]},{"type":"repository","name":"pub/site","actions":["pull"]}]`},
		{"Maintainer with api deletes", "mia", mia, []string{"repository:grp/app:delete,*"}, `[{"type":"repository","name":"grp/app","actions":["delete","*"]}]`},
		{"Maintainer without api may not delete", "mia", miaRW, []string{"repository:grp/app:delete,pull"}, `[{"type":"repository","name":"grp/app","actions":["pull"]}]`},
		{"Developer may not delete", "dev", w.pat("dev", keygate.ScopeAPI), []string{"repository:grp/app:delete,push"}, `[{"type":"repository","name":"grp/app","actions":["push"]}]`},
		{"read_api pulls", "dev", readAPI, []string{"repository:grp/app:pull,push"}, `[{"type":"repository","name":"grp/app","actions":["pull"]}]`},
		{"write_registry alone pushes but does not pull", "dev", pushOnly, []string{"repository:grp/app:pull,push"}, `[{"type":"repository","name":"grp/app","actions":["push"]}]`},
		{"project token at Developer pushes", "bot", botDev, []string{"repository:grp/app:pull,push"}, `[{"type":"repository","name":"grp/app","actions":["pull","push"]}]`},
		{"project token at Reporter pulls", "bot", botRep, []string{"repository:grp/app:pull,push"}, `[{"type":"repository","name":"grp/app","actions":["pull"]}]`},
		{"project token elsewhere", "bot", botDev, []string{"repository:pub/off:pull"}, `[]`},
		{"catalog for admins", "root", root, []string{"registry:catalog:*"}, `[{"type":"registry","name":"catalog","actions":["*"]}]`},
		{"catalog not for others", "mia", mia, []string{"registry:catalog:*"}, `[]`},
		{"catalog needs exactly *", "root", root, []string{"registry:catalog:pull", "registry:other:*"}, `[]`},
		{"admin pulls a private project", "root", root, []string{"repository:grp/app:pull"}, `[{"type":"repository","name":"grp/app","actions":["pull"]}]`},
		{"disabled registry denies everything", "mia", mia, []string{"repository:pub/off:pull,push,delete"}, `[]`},
		{"disabled registry denies admins", "root", root, []string{"repository:pub/off:pull"}, `[]`},
		{"members-only registry: a member pulls", "olga", w.pat("olga", rw...), []string{"repository:pub/members:pull"}, `[{"type":"repository","name":"pub/members","actions":["pull"]}]`},
		{"members-only registry: others do not", "sam", sam, []string{"repository:pub/members:pull"}, `[]`},
		{"malformed scopes dropped", "dev", dev, []string{"repository:grp/app", "repository::pull", "repository:grp//app:pull", "repository:grp/app:", "nonsense",
			"repository:grp/app:tag", "repository(plugin):grp/app:pull", "repository:app:pull", "repository:no/such:pull"}, `[]`},
		{"no scope: empty access", "dev", dev, nil, `[]`},
		{"duplicate actions kept as asked", "dev", dev, []string{"repository:grp/app:pull,pull"}, `[{"type":"repository","name":"grp/app","actions":["pull","pull"]}]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := accessString(w.accessOf(w.auth("GET", c.user, c.pass, scopes(c.scopes...)))); got != c.want {
				t.Errorf("access = %s, want %s", got, c.want)
			}
		})
	}

	// An oversized scope list is capped, not refused.
	many := make([]string, 60)
	for i := range many {
		many[i] = "repository:pub/site:pull"
	}
	if got := len(w.accessOf(w.auth("GET", "dev", dev, scopes(many...)))); got != 50 {
		t.Errorf("60 scopes granted %d accesses, want the cap of 50", got)
	}
}

// setRegistry changes a project's container_registry_access_level through the service.
func (w *world) setRegistry(p keygate.Project, level keygate.RegistryAccessLevel) {
	w.t.Helper()
	ctx := context.Background()
	sub := authz.SystemSubject()
	res, err := w.srv.Service.ProjectAccess(ctx, sub, p)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.srv.Service.UpdateProject(ctx, sub, p, res, service.NamespaceInput{RegistryAccessLevel: &level}); err != nil {
		w.t.Fatalf("UpdateProject(registry %s): %v", level, err)
	}
}

func TestAnonymous(t *testing.T) {
	w := newWorld(t, keygatetest.Options{Registry: true})
	a := w.auth("GET", "", "", scopes("repository:pub/site:pull,push"))
	_, c := token(t, a, w.srv.RegistrySigner.Public())
	if c.Sub != nil || accessString(c.Access) != `[{"type":"repository","name":"pub/site","actions":["pull"]}]` {
		t.Errorf("anonymous on a public project: sub %v, access %s, want no sub and pull", c.Sub, accessString(c.Access))
	}
	for _, q := range []string{
		scopes("repository:grp/app:pull"),  // private
		scopes("repository:int/tool:pull"), // internal needs a sign-in
		scopes("repository:no/such:pull"),
		scopes(), // nothing asked
	} {
		if a := w.auth("GET", "", "", q); a.status != 403 || a.body != deniedBody {
			t.Errorf("anonymous %s = %d %s, want 403 %s", q, a.status, a.body, deniedBody)
		}
	}
	// A non-Basic Authorization header is no credential at all.
	req, _ := http.NewRequest("GET", w.srv.URL+"/jwt/auth?"+scopes("repository:pub/site:pull"), nil)
	req.Header.Set("Authorization", "Bearer whatever")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("Bearer header on a public pull = %d, want 200 (anonymous)", resp.StatusCode)
	}
}

func TestErrors(t *testing.T) {
	w := newWorld(t, keygatetest.Options{Registry: true})
	ctx := context.Background()
	good := w.pat("dev", keygate.ScopeReadRegistry)
	revoked := w.srv.Service
	revokedTok, err := revoked.CreatePersonalToken(ctx, authz.SystemSubject(), w.u["dev"].ID, service.TokenInput{
		Name: "gone", Scopes: keygate.Scopes{keygate.ScopeReadRegistry}, ExpiresAt: ptr(keygate.DateOf(w.srv.Clock.Now()).AddDays(3)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := revoked.Revoke(ctx, authz.SystemSubject(), revokedTok.Token.ID); err != nil {
		t.Fatal(err)
	}
	expiring, err := revoked.CreatePersonalToken(ctx, authz.SystemSubject(), w.u["rep"].ID, service.TokenInput{
		Name: "short", Scopes: keygate.Scopes{keygate.ScopeReadRegistry}, ExpiresAt: ptr(keygate.DateOf(w.srv.Clock.Now()).AddDays(1)),
	})
	if err != nil {
		t.Fatal(err)
	}
	blockedTok := w.pat("gus", keygate.ScopeReadRegistry)
	if _, err := revoked.SetUserState(ctx, authz.SystemSubject(), w.u["gus"].ID, service.ActionBlock); err != nil {
		t.Fatal(err)
	}
	repoOnly := w.pat("dev", keygate.ScopeReadRepository, keygate.ScopeWriteRepository)

	pull := scopes("repository:grp/app:pull")
	for _, c := range []struct {
		name, method, user, pass, query string
		status                          int
		body                            string
	}{
		{"POST", "POST", "dev", good, pull, 404, ""},
		{"PUT", "PUT", "", "", pull, 404, ""},
		{"DELETE", "DELETE", "", "", pull, 404, ""},
		{"no service", "GET", "dev", good, "scope=repository:grp/app:pull", 404, ""},
		{"unknown service", "GET", "dev", good, "service=other&scope=repository:grp/app:pull", 404, ""},
		{"service twice, first wins", "GET", "dev", good, "service=other&service=container_registry", 404, ""},
		{"wrong token", "GET", "dev", "glpat-not-a-real-token-at-all-xxxxxxxx", pull, 401, unauthorizedBody},
		{"garbage password", "GET", "dev", "hunter2", pull, 401, unauthorizedBody},
		{"revoked token", "GET", "dev", revokedTok.Secret.Reveal(), pull, 401, unauthorizedBody},
		{"blocked owner", "GET", "gus", blockedTok, pull, 401, unauthorizedBody},
		{"bad credentials before the service check", "GET", "dev", "nope", "service=other", 401, unauthorizedBody},
		{"job token that is no job", "GET", "gitlab-ci-token", "glcbt-nope", pull, 401, unauthorizedBody},
		{"read_repository-only token", "GET", "dev", repoOnly, pull, 403, deniedBody},
		{"read_repository-only token, no scope", "GET", "dev", repoOnly, scopes(), 403, deniedBody},
		{"bad escapes in the query", "GET", "dev", good, "service=container_registry&scope=%zz&scope=repository:grp/app:pull", 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := w.auth(c.method, c.user, c.pass, c.query)
			if a.status != c.status || (c.status != 200 && a.body != c.body) {
				t.Errorf("%s /jwt/auth?%s = %d %q, want %d %q", c.method, c.query, a.status, a.body, c.status, c.body)
			}
		})
	}
	// Expired: the day after its expiry date.
	w.srv.Clock.Advance(48 * time.Hour)
	if a := w.auth("GET", "rep", expiring.Secret.Reveal(), pull); a.status != 401 || a.body != unauthorizedBody {
		t.Errorf("expired token = %d %s, want 401", a.status, a.body)
	}
	// A Basic header that does not decode is a failed sign-in.
	req, _ := http.NewRequest("GET", w.srv.URL+"/jwt/auth?"+pull, nil)
	req.Header.Set("Authorization", "Basic !!!")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("undecodable Basic = %d, want 401", resp.StatusCode)
	}
}

func ptr[T any](v T) *T { return &v }

func TestRegistryOff(t *testing.T) {
	w := newWorld(t, keygatetest.Options{})
	tok := w.pat("dev", keygate.ScopeReadRegistry)
	for _, c := range []struct {
		name, user, pass, query string
		status                  int
		body                    string
	}{
		{"signed in", "dev", tok, scopes("repository:grp/app:pull"), 404, unavailableBody},
		{"anonymous", "", "", scopes("repository:pub/site:pull"), 404, unavailableBody},
		{"unknown service still an empty 404", "", "", "service=x", 404, ""},
		{"bad credentials still 401", "dev", "nope", scopes(), 401, unauthorizedBody},
	} {
		if a := w.auth("GET", c.user, c.pass, c.query); a.status != c.status || a.body != c.body {
			t.Errorf("%s: /jwt/auth = %d %s, want %d %s", c.name, a.status, a.body, c.status, c.body)
		}
	}
	if a := w.auth("POST", "", "", scopes()); a.status != 404 || a.body != "" {
		t.Errorf("POST with the registry off = %d %q, want an empty 404", a.status, a.body)
	}
}

func TestJobTokens(t *testing.T) {
	w := newWorld(t, keygatetest.Options{Registry: true})
	olga := authz.Subject{User: w.u["olga"]}
	w.project(olga, "other", keygate.Private, w.grp.ID)
	allowing := w.project(olga, "allowing", keygate.Private, w.grp.ID)
	if err := w.srv.Service.AllowProject(context.Background(), allowing, w.p["app"]); err != nil {
		t.Fatal(err)
	}
	job := w.job("dev", w.p["app"])
	for _, c := range []struct {
		name  string
		scope string
		want  string
	}{
		{"own project: push and pull", "repository:grp/app:pull,push", `[{"type":"repository","name":"grp/app","actions":["pull","push"]}]`},
		{"own project: delete, never *", "repository:grp/app:delete,*", `[{"type":"repository","name":"grp/app","actions":["delete"]}]`},
		{"another private project: refused", "repository:grp/other:pull,push", `[]`},
		{"allowlisted project: pull only", "repository:grp/allowing:pull,push", `[{"type":"repository","name":"grp/allowing","actions":["pull"]}]`},
		{"public project: pull only", "repository:pub/site:pull,push", `[{"type":"repository","name":"pub/site","actions":["pull"]}]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, cl := token(t, w.auth("GET", "gitlab-ci-token", job, scopes(c.scope)), w.srv.RegistrySigner.Public())
			if got := accessString(cl.Access); got != c.want || cl.Sub == nil || *cl.Sub != "dev" {
				t.Errorf("access = %s (sub %v), want %s (sub dev)", got, cl.Sub, c.want)
			}
		})
	}
	// A personal token works with the gitlab-ci-token login too (any login, spec §2).
	pat := w.pat("dev", keygate.ScopeReadRegistry)
	if got := accessString(w.accessOf(w.auth("GET", "gitlab-ci-token", pat, scopes("repository:grp/app:pull")))); got != `[{"type":"repository","name":"grp/app","actions":["pull"]}]` {
		t.Errorf("PAT with login gitlab-ci-token: access %s", got)
	}
	// A job token with another login is not a job.
	if a := w.auth("GET", "dev", job, scopes("repository:grp/app:pull")); a.status != 401 {
		t.Errorf("job token with login dev = %d, want 401", a.status)
	}
	// A finished job's token is refused.
	if _, err := w.srv.Service.FinishJob(context.Background(), authz.SystemSubject(), w.p["app"], authz.Resource{}, jobID(t, w), keygate.JobSuccess); err != nil {
		t.Fatalf("FinishJob: %v", err)
	}
	if a := w.auth("GET", "gitlab-ci-token", job, scopes("repository:grp/app:pull")); a.status != 401 || a.body != unauthorizedBody {
		t.Errorf("finished job = %d %s, want 401", a.status, a.body)
	}
}

// jobID is the ID of the only job in the fixture's app project.
func jobID(t *testing.T, w *world) int64 {
	t.Helper()
	for id := int64(1); id < 10; id++ {
		if j, err := w.srv.Service.JobOf(context.Background(), w.p["app"], id); err == nil {
			return j.ID
		}
	}
	t.Fatal("no job")
	return 0
}

func TestThrottle(t *testing.T) {
	ban := service.DefaultBanConfig()
	ban.Exempt = nil
	w := newWorld(t, keygatetest.Options{Registry: true, Ban: &ban})
	good := w.pat("dev", keygate.ScopeReadRegistry)
	// gitlab-ci-token logins are not counted.
	for range 40 {
		if a := w.auth("GET", "gitlab-ci-token", "glcbt-nothing-here", scopes()); a.status != 401 {
			t.Fatalf("job login failure = %d, want 401", a.status)
		}
	}
	if a := w.auth("GET", "dev", good, scopes("repository:grp/app:pull")); a.status != 200 {
		t.Fatalf("after 40 job-login failures = %d %s, want 200", a.status, a.body)
	}
	for i := range ban.MaxRetry {
		if a := w.auth("GET", "dev", "wrong", scopes()); a.status != 401 {
			t.Fatalf("failure %d = %d, want 401", i+1, a.status)
		}
	}
	for _, c := range []struct{ user, pass string }{{"dev", good}, {"", ""}} {
		a := w.auth("GET", c.user, c.pass, scopes("repository:pub/site:pull"))
		if c.user == "" {
			// Anonymous requests present no credentials; only sign-ins are banned.
			if a.status != 200 {
				t.Errorf("anonymous while banned = %d, want 200", a.status)
			}
			continue
		}
		if a.status != 403 || a.body != "Forbidden\n" {
			t.Errorf("banned sign-in = %d %q, want 403 Forbidden", a.status, a.body)
		}
	}
	w.srv.Clock.Advance(ban.BanTime)
	if a := w.auth("GET", "dev", good, scopes("repository:grp/app:pull")); a.status != 200 {
		t.Errorf("after the ban = %d, want 200", a.status)
	}
}

func TestLastUsed(t *testing.T) {
	w := newWorld(t, keygatetest.Options{Registry: true})
	ctx := context.Background()
	iss, err := w.srv.Service.CreatePersonalToken(ctx, authz.SystemSubject(), w.u["dev"].ID, service.TokenInput{
		Name: "used", Scopes: keygate.Scopes{keygate.ScopeReadRegistry}, ExpiresAt: ptr(keygate.DateOf(w.srv.Clock.Now()).AddDays(3)),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.srv.Clock.Advance(time.Hour)
	if a := w.auth("GET", "dev", iss.Secret.Reveal(), scopes("repository:grp/app:pull")); a.status != 200 {
		t.Fatalf("/jwt/auth = %d", a.status)
	}
	if err := w.srv.Service.FlushUses(ctx); err != nil {
		t.Fatal(err)
	}
	tok, err := w.srv.Service.TokenByID(ctx, iss.Token.ID)
	if err != nil || tok.LastUsedAt == nil || !tok.LastUsedAt.Equal(w.srv.Clock.Now()) {
		t.Errorf("last_used_at after /jwt/auth = %v, %v, want %v", tok.LastUsedAt, err, w.srv.Clock.Now())
	}
}

// TestCredentialKinds: impersonation and service-account tokens work like personal ones;
// impersonation tokens stop when impersonation is turned off.
func TestCredentialKinds(t *testing.T) {
	w := newWorld(t, keygatetest.Options{Registry: true})
	ctx := context.Background()
	sys := authz.SystemSubject()
	rw := keygate.Scopes{keygate.ScopeReadRegistry, keygate.ScopeWriteRegistry}
	exp := ptr(keygate.DateOf(w.srv.Clock.Now()).AddDays(5))
	imp, err := w.srv.Service.CreatePersonalToken(ctx, sys, w.u["dev"].ID, service.TokenInput{Name: "imp", Scopes: rw, ExpiresAt: exp, Impersonation: true})
	if err != nil {
		t.Fatal(err)
	}
	name := "Robot"
	sa, err := w.srv.Service.CreateServiceAccount(ctx, sys, 0, service.ServiceAccountInput{Name: &name})
	if err != nil {
		t.Fatalf("CreateServiceAccount: %v", err)
	}
	w.member(sa.ID, keygate.Developer)
	saTok, err := w.srv.Service.CreatePersonalToken(ctx, sys, sa.ID, service.TokenInput{Name: "sa", Scopes: rw, ExpiresAt: exp})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"type":"repository","name":"grp/app","actions":["pull","push"]}]`
	for name, tok := range map[string]string{"impersonation": imp.Secret.Reveal(), "service account": saTok.Secret.Reveal()} {
		if got := accessString(w.accessOf(w.auth("GET", "any", tok, scopes("repository:grp/app:pull,push")))); got != want {
			t.Errorf("%s token: access %s, want %s", name, got, want)
		}
	}
	st, _ := w.srv.Service.Settings(ctx)
	st.ImpersonationEnabled = false
	if err := w.srv.Service.PutSettings(ctx, sys, st); err != nil {
		t.Fatal(err)
	}
	if a := w.auth("GET", "dev", imp.Secret.Reveal(), scopes("repository:grp/app:pull")); a.status != 401 || a.body != unauthorizedBody {
		t.Errorf("impersonation token with impersonation off = %d %s, want 401", a.status, a.body)
	}
}

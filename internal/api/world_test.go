package api_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

// world is the fixture the resource denial matrix, can_i and the bad-input goldens share:
// a private, an internal and a public top-level group, each with a project; a chain of
// private subgroups below the private group with a project at the bottom; users with
// each role; project and group access tokens on every target; a bot of another project;
// a blocked user's, an expired, a revoked and an impersonation token; an admin (root).
//
// Targets name where a probe's paths point: "private", "internal", "public" (the top
// groups and their app projects) and "deep" (priv/a/b/c and its project).
type world struct {
	srv *keygatetest.Server
	// u holds the users by username: olga (Owner of every top group, creator of
	// everything), mia (Maintainer of priv), dev (Developer of priv), gus (Guest of
	// priv), mem (Reporter, a direct member of every target project and group), sub
	// (Developer of priv/a/b/c only), sam (no membership), ext (external, no
	// membership), bob (Developer of priv, blocked).
	u map[string]keygate.User
	// tok holds plaintext tokens: one api token per user under the username, and
	// "expired", "revoked", "blocked", "impersonation" (dev's, api), "read_api_root",
	// "read_user_root", "write_repository_dev", "otherbot" (the api token of a project
	// access token on pub/other, Maintainer there).
	tok map[string]string
	// g and p hold the target groups and projects; "other" is pub/other.
	g map[string]keygate.Group
	p map[string]keygate.Project
	// ptok and gtok are the IDs of the project and group access tokens on each target;
	// their names (and their bots' names) are "ptok-<target>" and "gtok-<target>".
	ptok, gtok map[string]int64
	// ptokSecret holds the plaintext of the project access tokens.
	ptokSecret map[string]string
	// gsa and gsaToken are a service account of each top-level target group and the ID
	// of its api token ("deep", a subgroup, has none of its own and names the private
	// group's); isa is an instance service account.
	gsa, gsaToken map[string]int64
	isa           int64
}

var worldTargets = []string{"private", "internal", "public", "deep"}

func newWorld(t *testing.T, srv *keygatetest.Server) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{
		srv: srv, u: map[string]keygate.User{}, tok: map[string]string{},
		g: map[string]keygate.Group{}, p: map[string]keygate.Project{},
		ptok: map[string]int64{}, gtok: map[string]int64{}, ptokSecret: map[string]string{},
		gsa: map[string]int64{}, gsaToken: map[string]int64{},
	}
	for _, name := range []string{"olga", "mia", "dev", "gus", "mem", "sub", "sam", "ext", "bob"} {
		w.u[name] = srv.User(t, name, false)
		w.tok[name] = srv.Token(t, w.u[name].ID, name+"-api", keygate.ScopeAPI)
	}
	yes := true
	ext, err := srv.Service.UpdateUser(ctx, authz.SystemSubject(), w.u["ext"].ID, service.UserInput{External: &yes})
	if err != nil {
		t.Fatal(err)
	}
	w.u["ext"] = ext

	olga := authz.Subject{User: w.u["olga"]}
	w.g["private"] = w.group(t, olga, "Priv", "priv", keygate.Private, 0)
	w.g["internal"] = w.group(t, olga, "Intl", "intl", keygate.Internal, 0)
	w.g["public"] = w.group(t, olga, "Pub", "pub", keygate.Public, 0)
	a := w.group(t, olga, "A", "a", keygate.Private, w.g["private"].ID)
	b := w.group(t, olga, "B", "b", keygate.Private, a.ID)
	w.g["deep"] = w.group(t, olga, "C", "c", keygate.Private, b.ID)
	for _, tg := range []string{"private", "internal", "public"} {
		w.p[tg] = w.project(t, olga, "App", w.g[tg].Visibility, w.g[tg].ID)
	}
	w.p["deep"] = w.project(t, olga, "Deep", keygate.Private, w.g["deep"].ID)
	w.p["other"] = w.project(t, olga, "Other", keygate.Public, w.g["public"].ID)

	w.addMember(t, authz.KindGroup, w.g["private"].ID, "mia", keygate.Maintainer)
	w.addMember(t, authz.KindGroup, w.g["private"].ID, "dev", keygate.Developer)
	w.addMember(t, authz.KindGroup, w.g["private"].ID, "gus", keygate.Guest)
	w.addMember(t, authz.KindGroup, w.g["private"].ID, "bob", keygate.Developer)
	w.addMember(t, authz.KindGroup, w.g["deep"].ID, "sub", keygate.Developer)
	for _, tg := range worldTargets {
		w.addMember(t, authz.KindGroup, w.g[tg].ID, "mem", keygate.Reporter)
		w.addMember(t, authz.KindProject, w.p[tg].ID, "mem", keygate.Reporter)
		id, secret := w.resourceToken(t, authz.KindProject, w.p[tg].ID, "ptok-"+tg, keygate.Developer)
		w.ptok[tg], w.ptokSecret[tg] = id, secret
		id, _ = w.resourceToken(t, authz.KindGroup, w.g[tg].ID, "gtok-"+tg, keygate.Developer)
		w.gtok[tg] = id
	}
	_, w.tok["otherbot"] = w.resourceToken(t, authz.KindProject, w.p["other"].ID, "otherbot", keygate.Maintainer)

	for _, tg := range []string{"private", "internal", "public"} {
		w.gsa[tg], w.gsaToken[tg] = w.serviceAccount(t, w.g[tg].ID)
	}
	w.gsa["deep"], w.gsaToken["deep"] = w.gsa["private"], w.gsaToken["private"]
	w.isa, _ = w.serviceAccount(t, 0)

	dev := w.u["dev"].ID
	w.tok["write_repository_dev"] = srv.Token(t, dev, "wr", keygate.ScopeWriteRepository)
	w.tok["read_api_root"] = srv.Token(t, 1, "ra", keygate.ScopeReadAPI)
	w.tok["read_user_root"] = srv.Token(t, 1, "ru", keygate.ScopeReadUser)
	w.tok["blocked"] = w.tok["bob"]
	if _, err := srv.Service.SetUserState(ctx, authz.SystemSubject(), w.u["bob"].ID, service.ActionBlock); err != nil {
		t.Fatal(err)
	}
	w.tok["revoked"] = srv.Token(t, dev, "rev", keygate.ScopeAPI)
	p, err := srv.Service.Authenticate(ctx, serviceCred(w.tok["revoked"]))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Service.Revoke(ctx, authz.SystemSubject(), p.Token.ID); err != nil {
		t.Fatal(err)
	}
	tomorrow := keygate.DateOf(srv.Clock.Now()).AddDays(1)
	iss, err := srv.Service.CreatePersonalToken(ctx, authz.SystemSubject(), dev, serviceInput("exp", false, &tomorrow))
	if err != nil {
		t.Fatal(err)
	}
	w.tok["expired"] = iss.Secret.Reveal()
	iss, err = srv.Service.CreatePersonalToken(ctx, authz.SystemSubject(), dev, serviceInput("imp", true, nil))
	if err != nil {
		t.Fatal(err)
	}
	w.tok["impersonation"] = iss.Secret.Reveal()
	// Two days on: "expired" is past its date; every other token has weeks left.
	srv.Clock.Advance(48 * time.Hour)
	return w
}

func (w *world) group(t *testing.T, sub authz.Subject, name, path string, vis keygate.Visibility, parent int64) keygate.Group {
	t.Helper()
	g, err := w.srv.Service.CreateGroup(context.Background(), sub, service.NamespaceInput{Name: &name, Path: &path, Visibility: &vis, ParentID: parent})
	if err != nil {
		t.Fatalf("CreateGroup(%s): %v", path, err)
	}
	return g
}

func (w *world) project(t *testing.T, sub authz.Subject, name string, vis keygate.Visibility, ns int64) keygate.Project {
	t.Helper()
	p, err := w.srv.Service.CreateProject(context.Background(), sub, service.NamespaceInput{Name: &name, Visibility: &vis, ParentID: ns})
	if err != nil {
		t.Fatalf("CreateProject(%s in %d): %v", name, ns, err)
	}
	return p
}

// source builds the membership source of a project or group as an administrator sees it.
func sourceOf(t testing.TB, svc *service.Service, kind authz.ResourceKind, id int64) service.Source {
	t.Helper()
	ctx := context.Background()
	sys := authz.SystemSubject()
	ref := strconv.FormatInt(id, 10)
	var src service.Source
	var err error
	if kind == authz.KindGroup {
		var g keygate.Group
		if g, err = svc.Group(ctx, ref); err == nil {
			var res authz.Resource
			if res, err = svc.GroupAccess(ctx, sys, g); err == nil {
				src, err = svc.GroupSource(ctx, g, res)
			}
		}
	} else {
		var p keygate.Project
		if p, err = svc.Project(ctx, ref); err == nil {
			var res authz.Resource
			if res, err = svc.ProjectAccess(ctx, sys, p); err == nil {
				src, err = svc.ProjectSource(ctx, p, res)
			}
		}
	}
	if err != nil {
		t.Fatalf("source %s %d: %v", kind, id, err)
	}
	return src
}

func (w *world) addMember(t *testing.T, kind authz.ResourceKind, id int64, user string, level keygate.AccessLevel) {
	t.Helper()
	addMemberAt(t, w.srv.Service, kind, id, w.u[user].ID, level, nil)
}

func addMemberAt(t testing.TB, svc *service.Service, kind authz.ResourceKind, id, uid int64, level keygate.AccessLevel, exp *keygate.Date) {
	t.Helper()
	src := sourceOf(t, svc, kind, id)
	if _, err := svc.AddMember(context.Background(), authz.SystemSubject(), src, service.MemberInput{UserID: uid, AccessLevel: level, ExpiresAt: exp}); err != nil {
		t.Fatalf("AddMember(%s %d, user %d, %d): %v", kind, id, uid, level, err)
	}
}

// resourceToken creates an api-scoped project or group access token and returns its ID
// and plaintext.
func (w *world) resourceToken(t *testing.T, kind authz.ResourceKind, id int64, name string, level keygate.AccessLevel) (int64, string) {
	t.Helper()
	src := sourceOf(t, w.srv.Service, kind, id)
	rt, err := w.srv.Service.CreateResourceToken(context.Background(), authz.SystemSubject(), src, service.ResourceTokenInput{
		TokenInput: service.TokenInput{Name: name, Scopes: keygate.Scopes{keygate.ScopeAPI}}, AccessLevel: level,
	})
	if err != nil {
		t.Fatalf("CreateResourceToken(%s): %v", name, err)
	}
	return rt.Token.ID, rt.Secret.Reveal()
}

// serviceAccount creates a service account of group gid (0: an instance one) with an
// api token, returning both IDs.
func (w *world) serviceAccount(t *testing.T, gid int64) (int64, int64) {
	t.Helper()
	ctx := context.Background()
	u, err := w.srv.Service.CreateServiceAccount(ctx, authz.SystemSubject(), gid, service.ServiceAccountInput{})
	if err != nil {
		t.Fatalf("CreateServiceAccount(%d): %v", gid, err)
	}
	iss, err := w.srv.Service.CreatePersonalToken(ctx, authz.SystemSubject(), u.ID, serviceInput("sa", false, nil))
	if err != nil {
		t.Fatalf("service account token: %v", err)
	}
	return u.ID, iss.Token.ID
}

// setImpersonation turns the instance's impersonation_enabled setting on or off.
func setImpersonation(t testing.TB, srv *keygatetest.Server, on bool) {
	t.Helper()
	ctx := context.Background()
	st, err := srv.Service.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.ImpersonationEnabled = on
	if err := srv.Service.PutSettings(ctx, authz.SystemSubject(), st); err != nil {
		t.Fatal(err)
	}
}

package keygatetest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
)

// GateWorld is the fixture of the forward-auth tests: a private group acme with a
// private subgroup acme/billing and a project acme/billing/ledger, members at several
// levels (inherited through the group tree), and one token of every kind.
type GateWorld struct {
	Srv     *Server
	Acme    keygate.Group
	Billing keygate.Group
	Ledger  keygate.Project
	Users   map[string]keygate.User
	// Tokens by name: dev (Developer on acme, so on acme/billing by inheritance, api),
	// dev_read_api, dev_k8s (k8s_proxy only), gus (Guest on acme/billing), sam (no
	// membership), root (admin), expired, revoked, impersonation (of dev), project
	// (Developer bot of ledger), group (Developer bot of acme/billing), service_account
	// (Developer on acme/billing), job (a running job of ledger started by dev),
	// introspect (root's, introspect scope only).
	Tokens map[string]string
	// TokenIDs are the IDs of the personal-family tokens above.
	TokenIDs map[string]int64
}

// NewGateWorld builds the fixture on s. The clock ends two days after s.Clock's start,
// so "expired" is past its date while the others have weeks left.
func NewGateWorld(t testing.TB, s *Server) *GateWorld {
	t.Helper()
	ctx := context.Background()
	sys := authz.SystemSubject()
	w := &GateWorld{Srv: s, Users: map[string]keygate.User{}, Tokens: map[string]string{}, TokenIDs: map[string]int64{}}
	for _, name := range []string{"dev", "gus", "sam", "owner"} {
		w.Users[name] = s.User(t, name, false)
	}
	owner := authz.Subject{User: w.Users["owner"]}
	priv := keygate.Private
	str := func(v string) *string { return &v }
	var err error
	if w.Acme, err = s.Service.CreateGroup(ctx, owner, service.NamespaceInput{Name: str("Acme"), Path: str("acme"), Visibility: &priv}); err != nil {
		t.Fatalf("CreateGroup(acme): %v", err)
	}
	if w.Billing, err = s.Service.CreateGroup(ctx, owner, service.NamespaceInput{Name: str("Billing"), Path: str("billing"), Visibility: &priv, ParentID: w.Acme.ID}); err != nil {
		t.Fatalf("CreateGroup(acme/billing): %v", err)
	}
	if w.Ledger, err = s.Service.CreateProject(ctx, owner, service.NamespaceInput{Name: str("Ledger"), Path: str("ledger"), Visibility: &priv, ParentID: w.Billing.ID}); err != nil {
		t.Fatalf("CreateProject(ledger): %v", err)
	}
	w.member(t, authz.KindGroup, w.Acme.ID, w.Users["dev"].ID, keygate.Developer)
	w.member(t, authz.KindGroup, w.Billing.ID, w.Users["gus"].ID, keygate.Guest)

	personal := func(name string, user int64, imp bool, exp *keygate.Date, scopes ...keygate.Scope) {
		t.Helper()
		if exp == nil {
			d := keygate.DateOf(s.Clock.Now()).AddDays(30)
			exp = &d
		}
		iss, err := s.Service.CreatePersonalToken(ctx, sys, user, service.TokenInput{Name: name, Scopes: scopes, ExpiresAt: exp, Impersonation: imp})
		if err != nil {
			t.Fatalf("token %s: %v", name, err)
		}
		w.Tokens[name], w.TokenIDs[name] = iss.Secret.Reveal(), iss.Token.ID
	}
	api := keygate.ScopeAPI
	personal("dev", w.Users["dev"].ID, false, nil, api)
	personal("dev_read_api", w.Users["dev"].ID, false, nil, keygate.ScopeReadAPI)
	personal("dev_k8s", w.Users["dev"].ID, false, nil, keygate.ScopeK8sProxy)
	personal("gus", w.Users["gus"].ID, false, nil, api)
	personal("sam", w.Users["sam"].ID, false, nil, api)
	personal("root", 1, false, nil, api)
	personal("revoked", w.Users["dev"].ID, false, nil, api)
	personal("impersonation", w.Users["dev"].ID, true, nil, api)
	personal("introspect", 1, false, nil, keygate.ScopeIntrospect)
	tomorrow := keygate.DateOf(s.Clock.Now()).AddDays(1)
	personal("expired", w.Users["dev"].ID, false, &tomorrow, api)
	if err := s.Service.Revoke(ctx, sys, w.TokenIDs["revoked"]); err != nil {
		t.Fatalf("revoke: %v", err)
	}

	w.Tokens["project"] = w.resourceToken(t, authz.KindProject, w.Ledger.ID, "ledger-bot")
	w.Tokens["group"] = w.resourceToken(t, authz.KindGroup, w.Billing.ID, "billing-bot")
	sa, err := s.Service.CreateServiceAccount(ctx, sys, w.Billing.ID, service.ServiceAccountInput{})
	if err != nil {
		t.Fatalf("service account: %v", err)
	}
	w.member(t, authz.KindGroup, w.Billing.ID, sa.ID, keygate.Developer)
	personal("service_account", sa.ID, false, nil, api)

	dev := authz.Subject{User: w.Users["dev"]}
	res, err := s.Service.ProjectAccess(ctx, dev, w.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	job, err := s.Service.StartJob(ctx, dev, w.Ledger, res, service.JobInput{Ref: "main", Name: "build", Timeout: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatalf("StartJob: %v", err)
	}
	w.Tokens["job"] = job.Secret.Reveal()
	s.Clock.Advance(48 * time.Hour)
	return w
}

func (w *GateWorld) member(t testing.TB, kind authz.ResourceKind, id, uid int64, level keygate.AccessLevel) {
	t.Helper()
	src := w.source(t, kind, id)
	if _, err := w.Srv.Service.AddMember(context.Background(), authz.SystemSubject(), src, service.MemberInput{UserID: uid, AccessLevel: level}); err != nil {
		t.Fatalf("AddMember(%s %d, %d): %v", kind, id, uid, err)
	}
}

// RemoveMember removes user uid's direct membership of group gid.
func (w *GateWorld) RemoveMember(t testing.TB, gid, uid int64) {
	t.Helper()
	if err := w.Srv.Service.RemoveMember(context.Background(), authz.SystemSubject(), w.source(t, authz.KindGroup, gid), uid); err != nil {
		t.Fatalf("RemoveMember: %v", err)
	}
}

func (w *GateWorld) source(t testing.TB, kind authz.ResourceKind, id int64) service.Source {
	t.Helper()
	ctx := context.Background()
	sys := authz.SystemSubject()
	ref := strconv.FormatInt(id, 10)
	if kind == authz.KindGroup {
		g, err := w.Srv.Service.Group(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		res, _ := w.Srv.Service.GroupAccess(ctx, sys, g)
		src, err := w.Srv.Service.GroupSource(ctx, g, res)
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	p, err := w.Srv.Service.Project(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := w.Srv.Service.ProjectAccess(ctx, sys, p)
	src, err := w.Srv.Service.ProjectSource(ctx, p, res)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func (w *GateWorld) resourceToken(t testing.TB, kind authz.ResourceKind, id int64, name string) string {
	t.Helper()
	rt, err := w.Srv.Service.CreateResourceToken(context.Background(), authz.SystemSubject(), w.source(t, kind, id), service.ResourceTokenInput{
		TokenInput: service.TokenInput{Name: name, Scopes: keygate.Scopes{keygate.ScopeAPI}}, AccessLevel: keygate.Developer,
	})
	if err != nil {
		t.Fatalf("CreateResourceToken(%s): %v", name, err)
	}
	return rt.Secret.Reveal()
}

// FineToken creates a fine-grained personal access token of the named user with grant,
// as POST /user/personal_access_tokens would, and returns its plaintext.
func (w *GateWorld) FineToken(t testing.TB, user string, grant ...service.GranularRequest) string {
	t.Helper()
	iss, err := w.Srv.Service.CreatePersonalToken(context.Background(), authz.SystemSubject(), w.Users[user].ID, service.TokenInput{Name: "fine", Granular: grant})
	if err != nil {
		t.Fatalf("fine-grained token of %s: %v", user, err)
	}
	return iss.Secret.Reveal()
}

package authz_test

import (
	"reflect"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
)

func TestGitAbilitiesFor(t *testing.T) {
	for _, tc := range []struct {
		scopes keygate.Scopes
		want   authz.GitAbilities
	}{
		{keygate.Scopes{keygate.ScopeAPI}, authz.GitAbilities{Download: true, Push: true}},
		{keygate.Scopes{keygate.ScopeWriteRepository}, authz.GitAbilities{Download: true, Push: true}},
		{keygate.Scopes{keygate.ScopeReadRepository}, authz.GitAbilities{Download: true}},
		{keygate.Scopes{keygate.ScopeReadAPI}, authz.GitAbilities{Download: true}},
		{keygate.Scopes{keygate.ScopeReadUser, keygate.ScopeReadRegistry}, authz.GitAbilities{}},
		{keygate.Scopes{keygate.ScopeReadRepository, keygate.ScopeWriteRepository}, authz.GitAbilities{Download: true, Push: true}},
		{nil, authz.GitAbilities{}},
	} {
		if got := authz.GitAbilitiesFor(tc.scopes); got != tc.want {
			t.Errorf("GitAbilitiesFor(%v) = %+v, want %+v", tc.scopes, got, tc.want)
		}
	}
}

func gitSubject(u keygate.User, scopes ...keygate.Scope) authz.Subject {
	return authz.Subject{User: u, Token: &keygate.Token{UserID: u.ID, Scopes: scopes}}
}

func TestDecideGit(t *testing.T) {
	alice := keygate.User{ID: 2, Username: "alice", State: keygate.UserActive, Type: keygate.UserHuman}
	ext := keygate.User{ID: 3, Username: "ext", State: keygate.UserActive, Type: keygate.UserHuman, External: true}
	root := keygate.User{ID: 1, Username: "root", State: keygate.UserActive, Type: keygate.UserHuman, Admin: true}
	anon := authz.Subject{}
	full := authz.GitAbilities{Download: true, Push: true}
	read := authz.GitAbilities{Download: true}
	proj := func(v keygate.Visibility, l keygate.AccessLevel) authz.Resource {
		return authz.Resource{Kind: authz.KindProject, ID: 7, Visibility: v, Access: l}
	}
	missing := authz.Resource{Kind: authz.KindProject}
	for _, tc := range []struct {
		name   string
		sub    authz.Subject
		res    authz.Resource
		op     authz.GitOp
		ab     authz.GitAbilities
		status int
		msg    string
	}{
		{"anonymous clones public", anon, proj(keygate.Public, 0), authz.GitFetch, read, 200, ""},
		{"anonymous pushes public", anon, proj(keygate.Public, 0), authz.GitPush, read, 401, ""},
		{"anonymous clones internal", anon, proj(keygate.Internal, 0), authz.GitFetch, read, 401, ""},
		{"anonymous clones private", anon, proj(keygate.Private, 0), authz.GitFetch, read, 401, ""},
		{"anonymous clones missing", anon, missing, authz.GitFetch, read, 401, ""},
		{"anonymous dumb protocol", anon, proj(keygate.Public, 0), authz.GitOp(""), read, 401, ""},
		{"scope before existence", gitSubject(alice, keygate.ScopeReadUser), missing, authz.GitFetch, authz.GitAbilities{}, 403, authz.GitMsgAuthDownload},
		{"read scope pushes", gitSubject(alice, keygate.ScopeReadRepository), proj(keygate.Private, keygate.Maintainer), authz.GitPush, read, 403, authz.GitMsgAuthUpload},
		{"unknown service", gitSubject(alice, keygate.ScopeAPI), proj(keygate.Private, keygate.Owner), authz.GitOp("git-upload-archive"), full, 403, authz.GitMsgCommandNotAllowed},
		{"missing project", gitSubject(alice, keygate.ScopeAPI), missing, authz.GitFetch, full, 404, authz.GitMsgNotFound},
		{"private non-member", gitSubject(alice, keygate.ScopeAPI), proj(keygate.Private, 0), authz.GitFetch, full, 404, authz.GitMsgNotFound},
		{"internal non-member clones", gitSubject(alice, keygate.ScopeAPI), proj(keygate.Internal, 0), authz.GitFetch, full, 200, ""},
		{"internal non-member pushes", gitSubject(alice, keygate.ScopeAPI), proj(keygate.Internal, 0), authz.GitPush, full, 403, authz.GitMsgPush},
		{"external on internal", gitSubject(ext, keygate.ScopeAPI), proj(keygate.Internal, 0), authz.GitFetch, full, 404, authz.GitMsgNotFound},
		{"private guest clones", gitSubject(alice, keygate.ScopeAPI), proj(keygate.Private, keygate.Guest), authz.GitFetch, full, 403, authz.GitMsgDownload},
		{"private planner clones", gitSubject(alice, keygate.ScopeAPI), proj(keygate.Private, keygate.Planner), authz.GitFetch, full, 403, authz.GitMsgDownload},
		{"private reporter clones", gitSubject(alice, keygate.ScopeReadRepository), proj(keygate.Private, keygate.Reporter), authz.GitFetch, read, 200, ""},
		{"public guest clones", gitSubject(alice, keygate.ScopeAPI), proj(keygate.Public, keygate.Guest), authz.GitFetch, full, 200, ""},
		{"reporter pushes", gitSubject(alice, keygate.ScopeAPI), proj(keygate.Private, keygate.Reporter), authz.GitPush, full, 403, authz.GitMsgPush},
		{"developer pushes", gitSubject(alice, keygate.ScopeWriteRepository), proj(keygate.Private, keygate.Developer), authz.GitPush, full, 200, ""},
		{"admin pushes anywhere", gitSubject(root, keygate.ScopeAPI), proj(keygate.Private, 0), authz.GitPush, full, 200, ""},
		{"admin with read scope", gitSubject(root, keygate.ScopeReadAPI), proj(keygate.Private, 0), authz.GitPush, read, 403, authz.GitMsgAuthUpload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := authz.DecideGit(tc.sub, tc.res, tc.op, tc.ab)
			if d.Status != tc.status || d.Message != tc.msg || d.Allowed != (tc.status == 200) {
				t.Errorf("DecideGit(%s) = %d %q (allowed %v), want %d %q", tc.name, d.Status, d.Message, d.Allowed, tc.status, tc.msg)
			}
			if !d.Allowed && tc.status != 401 && len(d.Reasons) == 0 {
				t.Errorf("DecideGit(%s) gives no reasons", tc.name)
			}
		})
	}
}

func TestDecidePush(t *testing.T) {
	const zero = "0000000000000000000000000000000000000000"
	a, b := "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"
	alice := keygate.User{ID: 2, Username: "alice", State: keygate.UserActive, Type: keygate.UserHuman}
	root := keygate.User{ID: 1, Username: "root", State: keygate.UserActive, Type: keygate.UserHuman, Admin: true}
	sub := gitSubject(alice, keygate.ScopeAPI)
	dev := authz.Resource{Kind: authz.KindProject, ID: 7, Visibility: keygate.Private, Access: keygate.Developer}
	maint := dev
	maint.Access = keygate.Maintainer
	repo := authz.PushTarget{DefaultBranch: "main", FullPath: "g/p", MembersURL: "http://k/g/p/-/project_members"}
	empty := repo
	empty.Empty = true
	emptyMsg := "\nA default branch (e.g. main) does not yet exist for g/p\nAsk a project Owner or Maintainer to create a default branch:\n\n  http://k/g/p/-/project_members\n\n"
	up := func(old, new, ref string) []authz.RefUpdate { return []authz.RefUpdate{{Old: old, New: new, Ref: ref}} }
	for _, tc := range []struct {
		name    string
		sub     authz.Subject
		res     authz.Resource
		target  authz.PushTarget
		updates []authz.RefUpdate
		msg     string // "" allowed
	}{
		{"developer feature branch", sub, dev, repo, up(zero, a, "refs/heads/feature"), ""},
		{"developer updates feature", sub, dev, repo, up(a, b, "refs/heads/feature"), ""},
		{"developer deletes feature", sub, dev, repo, up(a, zero, "refs/heads/feature"), ""},
		{"developer tag", sub, dev, repo, up(zero, a, "refs/tags/v1"), ""},
		{"developer default branch", sub, dev, repo, up(a, b, "refs/heads/main"), authz.GitMsgPushProtected},
		{"developer creates missing default", sub, dev, repo, up(zero, a, "refs/heads/main"), authz.GitMsgCreateProtected},
		{"developer first push", sub, dev, empty, up(zero, a, "refs/heads/main"), emptyMsg},
		{"developer first push other branch", sub, dev, empty, up(zero, a, "refs/heads/dev"), emptyMsg},
		{"developer tag into empty", sub, dev, empty, up(zero, a, "refs/tags/v1"), ""},
		{"maintainer default branch", sub, maint, repo, up(a, b, "refs/heads/main"), ""},
		{"maintainer first push", sub, maint, empty, up(zero, a, "refs/heads/main"), ""},
		{"admin default branch", gitSubject(root, keygate.ScopeAPI), authz.Resource{Kind: authz.KindProject, ID: 7}, repo, up(a, b, "refs/heads/main"), ""},
		{"maintainer deletes default", sub, maint, repo, up(a, zero, "refs/heads/main"), authz.GitMsgDeleteDefault},
		{"admin deletes default", gitSubject(root, keygate.ScopeAPI), maint, repo, up(a, zero, "refs/heads/main"), authz.GitMsgDeleteDefault},
		{"hex branch", sub, maint, repo, up(zero, a, "refs/heads/"+b), authz.GitMsgHexBranch},
		{"hex branch prefix", sub, maint, repo, up(zero, a, "refs/heads/"+b+"/x"), authz.GitMsgHexBranch},
		{"hex-ish branch", sub, maint, repo, up(zero, a, "refs/heads/"+b+"x"), ""},
		{"deleting a hex branch", sub, maint, repo, up(a, zero, "refs/heads/"+b), ""},
		{"first refusal stops all", sub, dev, repo, []authz.RefUpdate{{Old: zero, New: a, Ref: "refs/heads/ok"}, {Old: a, New: b, Ref: "refs/heads/main"}}, authz.GitMsgPushProtected},
		{"nothing to push", sub, dev, repo, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := authz.DecidePush(tc.sub, tc.res, tc.target, tc.updates)
			if d.Allowed != (tc.msg == "") || d.Message != tc.msg || !d.Allowed && (d.Status != 403 || len(d.Reasons) == 0) {
				t.Errorf("DecidePush(%s) = %+v, want message %q", tc.name, d, tc.msg)
			}
		})
	}
}

func TestPushTargetProtection(t *testing.T) {
	repo := authz.PushTarget{DefaultBranch: "main"}
	if !repo.ProtectedBranch("main") || repo.ProtectedBranch("dev") {
		t.Errorf("ProtectedBranch: main %v dev %v, want only the default branch protected", repo.ProtectedBranch("main"), repo.ProtectedBranch("dev"))
	}
	if got := repo.ForcePushProtected(); !reflect.DeepEqual(got, []string{"refs/heads/main"}) {
		t.Errorf("ForcePushProtected() = %v, want [refs/heads/main]", got)
	}
	empty := authz.PushTarget{DefaultBranch: "main", Empty: true}
	if !empty.ProtectedBranch("anything") || empty.ForcePushProtected() != nil {
		t.Errorf("empty repository: ProtectedBranch(anything) %v, ForcePushProtected %v; want true, nil", empty.ProtectedBranch("anything"), empty.ForcePushProtected())
	}
}

func TestCanReadCodeAndPushBranch(t *testing.T) {
	alice := gitSubject(keygate.User{ID: 2, State: keygate.UserActive, Type: keygate.UserHuman}, keygate.ScopeAPI)
	repo := authz.PushTarget{DefaultBranch: "main"}
	for _, tc := range []struct {
		name                 string
		sub                  authz.Subject
		vis                  keygate.Visibility
		level                keygate.AccessLevel
		read, pushDev, pushM bool
	}{
		{"anonymous public", authz.Subject{}, keygate.Public, 0, true, false, false},
		{"anonymous private", authz.Subject{}, keygate.Private, 0, false, false, false},
		{"guest private", alice, keygate.Private, keygate.Guest, false, false, false},
		{"guest internal", alice, keygate.Internal, keygate.Guest, true, false, false},
		{"reporter private", alice, keygate.Private, keygate.Reporter, true, false, false},
		{"developer private", alice, keygate.Private, keygate.Developer, true, true, false},
		{"maintainer private", alice, keygate.Private, keygate.Maintainer, true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := authz.Resource{Kind: authz.KindProject, ID: 7, Visibility: tc.vis, Access: tc.level}
			if got := authz.CanReadCode(tc.sub, r); got != tc.read {
				t.Errorf("CanReadCode = %v, want %v", got, tc.read)
			}
			if got := authz.CanPushBranch(tc.sub, r, repo, "feature"); got != tc.pushDev {
				t.Errorf("CanPushBranch(feature) = %v, want %v", got, tc.pushDev)
			}
			if got := authz.CanPushBranch(tc.sub, r, repo, "main"); got != tc.pushM {
				t.Errorf("CanPushBranch(main) = %v, want %v", got, tc.pushM)
			}
			d := authz.DecideResource(tc.sub, r, authz.ActReadCode)
			if d.Allowed != tc.read {
				t.Errorf("DecideResource(read_code) = %+v, want allowed %v", d, tc.read)
			}
		})
	}
}

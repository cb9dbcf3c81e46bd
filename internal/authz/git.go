package authz

import (
	"regexp"
	"strings"

	"github.com/keygate/keygate"
)

// GitOp is a Git smart-HTTP service.
type GitOp string

// The Git services Keygate serves.
const (
	GitFetch GitOp = "git-upload-pack"
	GitPush  GitOp = "git-receive-pack"
)

// GitAbilities are what a credential itself permits over Git, before any role is
// considered (GitLab's authentication abilities download_code and push_code).
type GitAbilities struct {
	Download bool
	Push     bool
}

// GitAbilitiesFor maps token scopes to Git abilities (abilities_for_scopes, spec §2.2):
// api and write_repository download and push; read_api and read_repository download.
func GitAbilitiesFor(scopes keygate.Scopes) GitAbilities {
	var a GitAbilities
	for _, s := range scopes {
		switch s {
		case keygate.ScopeAPI, keygate.ScopeWriteRepository:
			a.Download, a.Push = true, true
		case keygate.ScopeReadAPI, keygate.ScopeReadRepository:
			a.Download = true
		}
	}
	return a
}

// GitLab's Git access messages (lib/gitlab/git_access.rb, lib/gitlab/checks/branch_check.rb).
const (
	GitMsgNotFound          = "The project you were looking for could not be found or you don't have permission to view it."
	GitMsgAuthDownload      = "You are not allowed to download code."
	GitMsgAuthUpload        = "You are not allowed to upload code."
	GitMsgDownload          = "You are not allowed to download code from this project."
	GitMsgPush              = "You are not allowed to push code to this project."
	GitMsgCommandNotAllowed = "The command you're trying to execute is not allowed."
	GitMsgPushProtected     = "You are not allowed to push code to protected branches on this project."
	GitMsgCreateProtected   = "You are not allowed to create protected branches on this project."
	GitMsgForcePush         = "You are not allowed to force push code to a protected branch on this project."
	GitMsgDeleteDefault     = "The default branch of a project cannot be deleted."
	GitMsgHexBranch         = "You cannot create a branch with a 40-character hexadecimal branch name."
	GitMsgNoRepository      = "A repository for this project does not exist yet."
)

// CanReadCode reports whether the subject may download a project's code (GitLab's
// download_code and read_code): whoever can see a public or internal project, and
// Reporters and above on a private one. A Guest of a private project sees the project
// but not its code.
func CanReadCode(s Subject, r Resource) bool {
	if !CanRead(s, r) {
		return false
	}
	return s.Admin() || r.Visibility != keygate.Private || r.Access >= keygate.Reporter
}

// canPushCode is GitLab's push_code: Developer and above.
func canPushCode(s Subject, r Resource) bool { return s.Admin() || r.Access >= keygate.Developer }

// canPushProtected is pushing to a protected branch under GitLab's default protection
// ("Maintainers push, Developers do not"), which also lets Maintainers create the first
// branch of an empty repository. Administrators may too.
func canPushProtected(s Subject, r Resource) bool {
	return s.Admin() || r.Access >= keygate.Maintainer
}

// DecideGit judges a Git request on a project once its credentials are verified, in
// GitLab's order (GitAccess#check): the credential's abilities, then whether the project
// exists and can be seen, then the role. r.ID == 0 means no such project. An anonymous
// subject may only fetch a public project; anything else asks for credentials (401),
// whether or not the project exists.
func DecideGit(s Subject, r Resource, op GitOp, ab GitAbilities) Decision {
	if !s.Authenticated() {
		if op == GitFetch && r.ID != 0 && CanReadCode(s, r) {
			return allow()
		}
		return Decision{Status: 401, Code: keygate.CodeUnauthenticated, Reasons: []string{"credentials are needed for this repository"}}
	}
	switch op {
	case GitFetch:
		if !ab.Download {
			return gitDenied(403, keygate.CodeInsufficientScope, GitMsgAuthDownload, "the token's scopes allow no download (read_repository, write_repository, read_api or api)")
		}
	case GitPush:
		if !ab.Push {
			return gitDenied(403, keygate.CodeInsufficientScope, GitMsgAuthUpload, "the token's scopes allow no push (write_repository or api)")
		}
	default:
		return gitDenied(403, keygate.CodeForbidden, GitMsgCommandNotAllowed, "unknown Git service "+string(op))
	}
	if r.ID == 0 || !CanRead(s, r) {
		return gitDenied(404, keygate.CodeNotFound, GitMsgNotFound, "the project does not exist or you cannot see it")
	}
	if op == GitFetch && !CanReadCode(s, r) {
		return gitDenied(403, keygate.CodeForbidden, GitMsgDownload, "downloading the code of a private project needs the Reporter role or higher; you have "+levelName(r.Access))
	}
	if op == GitPush && !canPushCode(s, r) {
		return gitDenied(403, keygate.CodeForbidden, GitMsgPush, "pushing needs the Developer role or higher; you have "+levelName(r.Access))
	}
	return allow()
}

func gitDenied(status int, code keygate.Code, msg, reason string) Decision {
	return Decision{Status: status, Code: code, Message: msg, Reasons: []string{reason}}
}

// RefUpdate is one ref-update command of a push. Old or New is all zeros for a
// creation or a deletion.
type RefUpdate struct {
	Old, New, Ref string
}

// Creates reports whether the command makes a new ref.
func (u RefUpdate) Creates() bool { return zeroID(u.Old) }

// Deletes reports whether the command removes the ref.
func (u RefUpdate) Deletes() bool { return zeroID(u.New) }

func zeroID(id string) bool { return strings.Trim(id, "0") == "" }

// PushTarget is the repository a push is judged against.
type PushTarget struct {
	// Empty: the repository has no branch yet. GitLab then treats every branch as
	// protected, so only Maintainers can create the first one.
	Empty bool
	// DefaultBranch is protected once it exists (GitLab's default branch protection).
	DefaultBranch string
	// FullPath and MembersURL fill GitLab's message for a Developer's push into an
	// empty repository.
	FullPath   string
	MembersURL string
}

// ProtectedBranch reports whether a branch is protected in t.
func (t PushTarget) ProtectedBranch(name string) bool {
	return t.Empty || name == t.DefaultBranch
}

// ForcePushProtected lists the refs whose force pushes must be refused once the pack is
// in (the only rule that needs the pushed objects).
func (t PushTarget) ForcePushProtected() []string {
	if t.Empty || t.DefaultBranch == "" {
		return nil
	}
	return []string{"refs/heads/" + t.DefaultBranch}
}

var hexBranchRE = regexp.MustCompile(`^[0-9a-fA-F]{40}(-/|/|$)`)

// DecidePush judges a push's ref updates (GitLab's per-change checks, BranchCheck):
// deleting the default branch is refused to everyone; branch names of 40 hex digits are
// refused; a protected branch takes a Maintainer. The first refusal stops the whole
// push, as GitLab's pre-receive does. The caller has already passed DecideGit for
// GitPush (so the subject is at least a Developer).
func DecidePush(s Subject, r Resource, t PushTarget, updates []RefUpdate) Decision {
	for _, u := range updates {
		branch, ok := strings.CutPrefix(u.Ref, "refs/heads/")
		if !ok {
			continue // tags and other refs need push_code only
		}
		if u.Deletes() && branch == t.DefaultBranch && !t.Empty {
			return gitDenied(403, keygate.CodeForbidden, GitMsgDeleteDefault, "the default branch "+branch+" cannot be deleted")
		}
		if !u.Deletes() && hexBranchRE.MatchString(branch) {
			return gitDenied(403, keygate.CodeForbidden, GitMsgHexBranch, "branch "+branch+" looks like a commit ID")
		}
		if !t.ProtectedBranch(branch) || canPushProtected(s, r) {
			continue
		}
		reason := "branch " + branch + " is protected: pushing to it needs the Maintainer role or higher; you have " + levelName(r.Access)
		switch {
		case t.Empty:
			return gitDenied(403, keygate.CodeForbidden, emptyProjectMessage(t), "the repository is empty: only Maintainers can create its first branch; you have "+levelName(r.Access))
		case u.Creates():
			return gitDenied(403, keygate.CodeForbidden, GitMsgCreateProtected, reason)
		default:
			return gitDenied(403, keygate.CodeForbidden, GitMsgPushProtected, reason)
		}
	}
	return allow()
}

// emptyProjectMessage is GitLab's answer to a Developer pushing into an empty repository
// under the default branch protection (BranchCheck#empty_project_push_message).
func emptyProjectMessage(t PushTarget) string {
	return "\nA default branch (e.g. main) does not yet exist for " + t.FullPath + "\n" +
		"Ask a project Owner or Maintainer to create a default branch:\n\n  " + t.MembersURL + "\n\n"
}

// CanPushBranch is the can_push of GitLab's branch entity: whether the subject's role
// lets them push to the branch (scopes aside).
func CanPushBranch(s Subject, r Resource, t PushTarget, branch string) bool {
	if !s.Authenticated() || !canPushCode(s, r) {
		return false
	}
	return !t.ProtectedBranch(branch) || canPushProtected(s, r)
}

// GitUseRoute is how a Git operation is recorded among a token's permission uses.
func GitUseRoute(op GitOp) string { return "GIT " + string(op) }

// GitPermission is the fine-grained permission a Git operation needs (spec §3.5).
func GitPermission(op GitOp) string {
	if op == GitPush {
		return "push_code"
	}
	return "download_code"
}

// GranularGitAbilities are a fine-grained token's Git abilities on one project: what its
// grant holds there (download_code, push_code), where the user is a member. A legacy
// token held to the checks by its group's policy has none.
func GranularGitAbilities(s Subject, b Boundary) GitAbilities {
	var scopes []keygate.GranularScope
	if s.Token != nil && s.Token.Granular {
		scopes = s.Token.GranularScopes
	}
	has := func(p string) bool { return len(missingPermissions(s, scopes, []string{p}, b)) == 0 }
	return GitAbilities{Download: has("download_code"), Push: has("push_code")}
}

// Package authz is Keygate's decision engine: given who is asking (subject and token),
// what they want to do (a route's rule and method) and on what, it answers allowed or
// not, with the status and the reasons. It is pure: no I/O, no clock, no store.
package authz

import (
	"slices"
	"strings"

	"github.com/keygate/keygate"
)

// Grant is one scope a route registers, optionally only for safe methods (GitLab's
// `allow_access_with_scope :read_user, if: ->(request) { request.get? || request.head? }`).
type Grant struct {
	Scope    keygate.Scope
	ReadOnly bool
}

// rootGrants are registered by GitLab's root API class for every endpoint.
var rootGrants = []Grant{{Scope: keygate.ScopeAPI}, {Scope: keygate.ScopeReadAPI, ReadOnly: true}}

// Rule is what a route demands, declared once in the route table.
type Rule struct {
	// Grants are the endpoint class's own scopes; the root grants (api, read_api on
	// GET/HEAD) are always added after them.
	Grants []Grant
	// AnyScope accepts a token of any scope (GitLab's self-information endpoints).
	AnyScope bool
	// Anonymous lets requests without credentials through (public reads).
	Anonymous bool
	// Admin demands an administrator (admin mode permitting).
	Admin bool
	// JobToken lets CI/CD job tokens in (spec §7.2); other routes do not recognise them.
	JobToken bool
	// Exclusive: only Grants open the route; the root grants (api, read_api) do not.
	// Keygate's introspect routes use it, so a plain api token cannot watch revocations.
	Exclusive bool
}

// Subject is the authenticated caller. A zero Subject is anonymous.
type Subject struct {
	User  keygate.User
	Token *keygate.Token
	// AdminMode mirrors the instance setting admin_mode: when on, an administrator's
	// token acts as an administrator only if it carries the admin_mode scope.
	AdminMode bool
	// System marks Keygate itself acting (the admin CLI, bootstrap): an administrator
	// with no token.
	System bool
	// JobProjectID is set when a CI/CD job token authenticated: the subject is the job's
	// user, limited to the routes that accept job tokens and to projects that allow the
	// job's project.
	JobProjectID int64
}

// SystemSubject is the subject of operator commands run on the server's own data.
func SystemSubject() Subject { return Subject{System: true} }

// Authenticated reports whether there is a caller at all.
func (s Subject) Authenticated() bool { return s.System || s.User.ID != 0 }

// Admin reports whether the subject may act as an administrator now.
func (s Subject) Admin() bool {
	if s.System {
		return true
	}
	if s.JobProjectID != 0 {
		return false // a job acts with its user's project permissions, never as an admin
	}
	if !s.User.Admin || s.User.State != keygate.UserActive {
		return false
	}
	if s.AdminMode && s.Token != nil && !s.Token.Scopes.Has(keygate.ScopeAdminMode) {
		return false
	}
	return true
}

// Decision is the engine's answer. Status is the HTTP status a transport should use
// when not allowed; Scope lists the acceptable scopes for an insufficient_scope answer.
type Decision struct {
	Allowed bool
	Status  int
	Code    keygate.Code
	Scope   string
	// Message is the public message where GitLab's body carries one (e.g. "404 Project
	// Not Found"); Reasons explain the decision to the token's owner.
	Message string
	Reasons []string
}

func allow() Decision { return Decision{Allowed: true, Status: 200} }

func safeMethod(method string) bool { return method == "GET" || method == "HEAD" }

// ScopesFor returns the space-separated scope list GitLab reports for a rule: the
// class's scopes, then the root ones, repeats kept (api_guard.rb
// scopes_registered_for_endpoint).
func ScopesFor(r Rule) string {
	names := make([]string, 0, len(r.Grants)+len(rootGrants))
	for _, g := range r.Grants {
		names = append(names, string(g.Scope))
	}
	for _, g := range r.roots() {
		names = append(names, string(g.Scope))
	}
	return strings.Join(names, " ")
}

// ScopeAllows reports whether scopes open a route for method.
func ScopeAllows(r Rule, method string, scopes keygate.Scopes) bool {
	if r.AnyScope {
		return true
	}
	ok := func(g Grant) bool { return scopes.Has(g.Scope) && (!g.ReadOnly || safeMethod(method)) }
	return slices.ContainsFunc(r.Grants, ok) || slices.ContainsFunc(r.roots(), ok)
}

// roots are the root grants that apply to the rule: none for an exclusive one.
func (r Rule) roots() []Grant {
	if r.Exclusive {
		return nil
	}
	return rootGrants
}

// Decide judges one request against a route's rule. Authentication outcomes (expired,
// revoked, blocked) are settled before; Decide covers what comes after: presence of a
// caller, the scope, then the administrator requirement.
func Decide(s Subject, r Rule, method string) Decision {
	if !s.Authenticated() {
		if r.Anonymous {
			return allow()
		}
		return Decision{Status: 401, Code: keygate.CodeUnauthenticated, Reasons: []string{"no valid credentials were presented"}}
	}
	if s.JobProjectID != 0 && !r.JobToken {
		return Decision{Status: 401, Code: keygate.CodeUnauthenticated, Reasons: []string{"the route does not accept CI/CD job tokens"}}
	}
	// A fine-grained token has no legacy scopes: DecideGranular judges it instead.
	if s.Token != nil && !s.Token.Granular && !ScopeAllows(r, method, s.Token.Scopes) {
		return Decision{
			Status: 403, Code: keygate.CodeInsufficientScope, Scope: ScopesFor(r),
			Reasons: []string{"the token's scopes (" + s.Token.Scopes.String() + ") do not include any of: " + ScopesFor(r) + readOnlyNote(r, method, s.Token.Scopes)},
		}
	}
	if r.Admin && !s.Admin() {
		reason := "the route is for administrators"
		if s.User.Admin && s.AdminMode {
			reason = "admin mode is on and the token lacks the admin_mode scope"
		}
		return Decision{Status: 403, Code: keygate.CodeForbidden, Reasons: []string{reason}}
	}
	return allow()
}

func readOnlyNote(r Rule, method string, scopes keygate.Scopes) string {
	if safeMethod(method) {
		return ""
	}
	for _, g := range append(slices.Clone(r.Grants), r.roots()...) {
		if g.ReadOnly && scopes.Has(g.Scope) {
			return " (" + string(g.Scope) + " allows only GET and HEAD)"
		}
	}
	return ""
}

// CanManageTokensOf reports whether the subject may read and manage the personal access
// tokens of user owner: their own, or anyone's for an administrator.
func CanManageTokensOf(s Subject, owner int64) bool {
	return s.Authenticated() && (s.User.ID == owner || s.Admin())
}

// Sudo judges a request to act as another user (spec §5.2); target lookup is the
// caller's. The order of the checks is GitLab's.
func Sudo(s Subject) Decision {
	switch {
	case !s.Authenticated():
		return Decision{Status: 401, Code: keygate.CodeUnauthenticated}
	case !s.Admin():
		return Decision{Status: 403, Code: keygate.CodeForbidden, Reasons: []string{"Must be admin to use sudo"}}
	case s.Token == nil:
		return Decision{Status: 403, Code: keygate.CodeForbidden, Reasons: []string{"Must be authenticated using an OAuth or personal access token to use sudo"}}
	case !s.Token.Scopes.Has(keygate.ScopeSudo):
		return Decision{Status: 403, Code: keygate.CodeInsufficientScope, Scope: "sudo", Reasons: []string{"the token lacks the sudo scope"}}
	}
	return allow()
}

// AllowedScopesFor returns the scopes a token for owner may carry: admin scopes only for
// administrators.
func AllowedScopesFor(owner keygate.User) []keygate.Scope {
	out := make([]keygate.Scope, 0, len(keygate.AllScopes))
	for _, sc := range keygate.AllScopes {
		if sc.Admin() && !owner.Admin {
			continue
		}
		out = append(out, sc)
	}
	return out
}

// RootGrants returns the grants GitLab's root API class adds to every endpoint.
func RootGrants() []Grant { return slices.Clone(rootGrants) }

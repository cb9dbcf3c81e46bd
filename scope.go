package keygate

import (
	"fmt"
	"slices"
	"strings"
)

// Scope is one GitLab token scope, spelled as GitLab spells it.
type Scope string

// The scopes Keygate knows. Scopes that no route of this version acts on are still
// validated and stored, so tokens created today keep their meaning later.
const (
	ScopeAPI             Scope = "api"
	ScopeReadAPI         Scope = "read_api"
	ScopeReadUser        Scope = "read_user"
	ScopeSudo            Scope = "sudo"
	ScopeAdminMode       Scope = "admin_mode"
	ScopeSelfRotate      Scope = "self_rotate"
	ScopeReadRepository  Scope = "read_repository"
	ScopeWriteRepository Scope = "write_repository"
	ScopeReadRegistry    Scope = "read_registry"
	ScopeWriteRegistry   Scope = "write_registry"
	ScopeCreateRunner    Scope = "create_runner"
	ScopeManageRunner    Scope = "manage_runner"
	ScopeK8sProxy        Scope = "k8s_proxy"
	ScopeAIFeatures      Scope = "ai_features"
	// ScopeIntrospect (Keygate extension) lets a gateway or a service ask about other
	// tokens: POST /oauth/introspect and the revocation stream. It opens no other route,
	// and only an administrator may put it on a token (GrantedByAdmin).
	ScopeIntrospect Scope = "introspect"
)

// AllScopes lists every scope in GitLab's documentation order.
var AllScopes = []Scope{
	ScopeAPI, ScopeReadAPI, ScopeReadUser, ScopeReadRepository, ScopeWriteRepository,
	ScopeReadRegistry, ScopeWriteRegistry, ScopeCreateRunner, ScopeManageRunner,
	ScopeK8sProxy, ScopeSelfRotate, ScopeAIFeatures, ScopeSudo, ScopeAdminMode,
	ScopeIntrospect,
}

// adminScopes may only be held by administrators' personal tokens.
var adminScopes = []Scope{ScopeSudo, ScopeAdminMode}

// Valid reports whether s is a scope Keygate knows.
func (s Scope) Valid() bool { return slices.Contains(AllScopes, s) }

// Admin reports whether s is offered only to administrators.
func (s Scope) Admin() bool { return slices.Contains(adminScopes, s) }

// GrantedByAdmin reports whether only an administrator may create a token carrying s,
// whoever owns the token: introspect reveals other people's tokens' state, so a group
// owner or project maintainer must not hand it to their own bots.
func (s Scope) GrantedByAdmin() bool { return s == ScopeIntrospect }

// Scopes is a token's scope set, kept in the order given.
type Scopes []Scope

// Has reports whether the set holds s.
func (ss Scopes) Has(s Scope) bool { return slices.Contains(ss, s) }

// Strings returns the scopes as plain strings (for JSON and storage).
func (ss Scopes) Strings() []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// String joins the scopes with commas, the CLI's and the storage's form.
func (ss Scopes) String() string { return strings.Join(ss.Strings(), ",") }

// ParseScopes reads scope names from a list whose items may themselves be comma-separated
// (GitLab accepts `scopes[]=a&scopes[]=b` and `scopes=a,b`). Duplicates are dropped; an
// unknown name is an error. An empty result is returned as nil without error: callers
// decide whether scopes are required.
func ParseScopes(items ...string) (Scopes, error) {
	var out Scopes
	for _, item := range items {
		for name := range strings.SplitSeq(item, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			s := Scope(name)
			if !s.Valid() {
				return nil, fmt.Errorf("unknown scope %q", name)
			}
			if !out.Has(s) {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

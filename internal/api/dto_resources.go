package api

import (
	"strconv"
	"strings"

	"github.com/keygate/keygate"
)

// namespaceJSON is API::Entities::NamespaceBasic, the namespace inside a project.
type namespaceJSON struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	Path      string  `json:"path"`
	Kind      string  `json:"kind"`
	FullPath  string  `json:"full_path"`
	ParentID  *int64  `json:"parent_id"`
	AvatarURL *string `json:"avatar_url"`
	WebURL    string  `json:"web_url"`
}

func idOrNil(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func (a *API) namespace(n keygate.Namespace) namespaceJSON {
	web := a.externalURL + "/" + n.FullPath
	if n.Kind == keygate.NamespaceGroup {
		web = a.externalURL + "/groups/" + n.FullPath
	}
	return namespaceJSON{ID: n.ID, Name: n.Name, Path: n.Path, Kind: string(n.Kind), FullPath: n.FullPath, ParentID: idOrNil(n.ParentID), WebURL: web}
}

// projectJSON is API::Entities::Project's fields that Keygate has meaning for, in
// GitLab's order (ProjectIdentity, BasicProjectDetails, Project).
type projectJSON struct {
	ID                int64          `json:"id"`
	Description       string         `json:"description"`
	Name              string         `json:"name"`
	NameWithNamespace string         `json:"name_with_namespace"`
	Path              string         `json:"path"`
	PathWithNamespace string         `json:"path_with_namespace"`
	CreatedAt         string         `json:"created_at"`
	DefaultBranch     string         `json:"default_branch"`
	TagList           []string       `json:"tag_list"`
	Topics            []string       `json:"topics"`
	SSHURLToRepo      string         `json:"ssh_url_to_repo"`
	HTTPURLToRepo     string         `json:"http_url_to_repo"`
	WebURL            string         `json:"web_url"`
	ReadmeURL         *string        `json:"readme_url"`
	ForksCount        int            `json:"forks_count"`
	AvatarURL         *string        `json:"avatar_url"`
	StarCount         int            `json:"star_count"`
	LastActivityAt    string         `json:"last_activity_at"`
	Namespace         namespaceJSON  `json:"namespace"`
	RegistryPrefix    string         `json:"container_registry_image_prefix,omitempty"`
	Links             map[string]any `json:"_links"`
	PackagesEnabled   bool           `json:"packages_enabled"`
	EmptyRepo         bool           `json:"empty_repo"`
	Archived          bool           `json:"archived"`
	Visibility        string         `json:"visibility"`
	Owner             *userBasicJSON `json:"owner,omitempty"`
	IssuesEnabled     bool           `json:"issues_enabled"`
	MergeRequestsOn   bool           `json:"merge_requests_enabled"`
	WikiEnabled       bool           `json:"wiki_enabled"`
	JobsEnabled       bool           `json:"jobs_enabled"`
	SnippetsEnabled   bool           `json:"snippets_enabled"`
	RegistryEnabled   bool           `json:"container_registry_enabled"`
	RepositoryAccess  string         `json:"repository_access_level"`
	RegistryAccess    string         `json:"container_registry_access_level"`
	CreatorID         int64          `json:"creator_id"`
	UpdatedAt         string         `json:"updated_at"`
	SharedWithGroups  []any          `json:"shared_with_groups"`
	MarkedForDeletion *string        `json:"marked_for_deletion_on"`
	// Shown to Maintainers and administrators (admin_project).
	CIJobTokenScopeEnabled      *bool `json:"ci_job_token_scope_enabled,omitempty"`
	CIPushRepositoryForJobToken *bool `json:"ci_push_repository_for_job_token_allowed,omitempty"`
	// Permissions is set for signed-in callers (ProjectWithAccess).
	Permissions *permissionsJSON `json:"permissions,omitempty"`
}

type memberAccessJSON struct {
	AccessLevel       int `json:"access_level"`
	NotificationLevel int `json:"notification_level"`
}

type permissionsJSON struct {
	ProjectAccess *memberAccessJSON `json:"project_access"`
	GroupAccess   *memberAccessJSON `json:"group_access"`
}

func (a *API) project(p keygate.Project, owner *keygate.User) projectJSON {
	base := a.externalURL + "/" + p.FullPath()
	apiBase := a.externalURL + Prefix + "/projects/" + strconv.FormatInt(p.ID, 10)
	out := projectJSON{
		ID: p.ID, Description: p.Description, Name: p.Name, NameWithNamespace: p.NameWithNamespace(),
		Path: p.Path, PathWithNamespace: p.FullPath(), CreatedAt: ts(p.CreatedAt), DefaultBranch: p.DefaultBranch,
		TagList: []string{}, Topics: []string{},
		SSHURLToRepo: "git@" + a.host() + ":" + p.FullPath() + ".git", HTTPURLToRepo: base + ".git", WebURL: base,
		LastActivityAt: ts(p.LastActivityAt), Namespace: a.namespace(p.Namespace),
		Links: map[string]any{
			"self": apiBase, "repo_branches": apiBase + "/repository/branches", "labels": apiBase + "/labels",
			"events": apiBase + "/events", "members": apiBase + "/members", "cluster_agents": apiBase + "/cluster_agents",
		},
		EmptyRepo: true, Visibility: string(p.Visibility), RepositoryAccess: "enabled",
		RegistryAccess:  string(p.ContainerRegistryAccessLevel.Or()),
		RegistryEnabled: p.ContainerRegistryAccessLevel.Or() != keygate.RegistryDisabled, CreatorID: p.CreatorID, UpdatedAt: ts(p.LastActivityAt), SharedWithGroups: []any{},
	}
	if a.registry != "" {
		// Gitlab.config.registry.host_port + the lower-cased full path; shown only while
		// the registry is on, as GitLab.
		out.RegistryPrefix = a.registry + "/" + strings.ToLower(p.FullPath())
	}
	if owner != nil {
		o := a.userBasic(*owner)
		out.Owner = &o
	}
	return out
}

// host is the external URL's host, for SSH clone URLs.
func (a *API) host() string {
	h := a.externalURL
	for _, p := range []string{"https://", "http://"} {
		if len(h) > len(p) && h[:len(p)] == p {
			h = h[len(p):]
		}
	}
	if i := indexByte(h, '/'); i >= 0 {
		h = h[:i]
	}
	if i := indexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	return h
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// groupJSON is API::Entities::Group in GitLab's order.
type groupJSON struct {
	ID                    int64   `json:"id"`
	WebURL                string  `json:"web_url"`
	Name                  string  `json:"name"`
	Path                  string  `json:"path"`
	Description           string  `json:"description"`
	Visibility            string  `json:"visibility"`
	ShareWithGroupLock    bool    `json:"share_with_group_lock"`
	RequireTwoFactor      bool    `json:"require_two_factor_authentication"`
	TwoFactorGracePeriod  int     `json:"two_factor_grace_period"`
	ProjectCreationLevel  string  `json:"project_creation_level"`
	AutoDevopsEnabled     *bool   `json:"auto_devops_enabled"`
	SubgroupCreationLevel string  `json:"subgroup_creation_level"`
	EmailsDisabled        bool    `json:"emails_disabled"`
	EmailsEnabled         bool    `json:"emails_enabled"`
	MentionsDisabled      *bool   `json:"mentions_disabled"`
	LFSEnabled            bool    `json:"lfs_enabled"`
	Archived              bool    `json:"archived"`
	DefaultBranch         *string `json:"default_branch"`
	AvatarURL             *string `json:"avatar_url"`
	RequestAccessEnabled  bool    `json:"request_access_enabled"`
	FullName              string  `json:"full_name"`
	FullPath              string  `json:"full_path"`
	CreatedAt             string  `json:"created_at"`
	ParentID              *int64  `json:"parent_id"`
	OrganizationID        int     `json:"organization_id"`
	SharedRunnersSetting  string  `json:"shared_runners_setting"`
	MaxArtifactsSize      *int    `json:"max_artifacts_size"`
	MarkedForDeletionOn   *string `json:"marked_for_deletion_on"`
	ResourceTokensAllowed bool    `json:"resource_access_token_creation_allowed"`
	// The top-level group's fine-grained-only policy (spec §5).
	EnforceGranularTokens       bool    `json:"enforce_granular_tokens"`
	GranularTokensEnforcedAfter *string `json:"granular_tokens_enforced_after"`
}

// groupDetailJSON is API::Entities::GroupDetail; projects are set only where GitLab
// includes them (GET with with_projects, PUT).
type groupDetailJSON struct {
	groupJSON
	SharedWithGroups []any         `json:"shared_with_groups"`
	Projects         []projectJSON `json:"projects,omitempty"`
	SharedProjects   []projectJSON `json:"shared_projects,omitempty"`
}

func (a *API) group(g keygate.Group) groupJSON {
	return groupJSON{
		ID: g.ID, WebURL: a.externalURL + "/groups/" + g.FullPath, Name: g.Name, Path: g.Path,
		Description: g.Description, Visibility: string(g.Visibility), TwoFactorGracePeriod: 48,
		ProjectCreationLevel: "developer", SubgroupCreationLevel: "maintainer", EmailsEnabled: true,
		LFSEnabled: true, RequestAccessEnabled: true, FullName: g.FullName, FullPath: g.FullPath,
		CreatedAt: ts(g.CreatedAt), ParentID: idOrNil(g.ParentID), OrganizationID: 1,
		SharedRunnersSetting: "enabled", ResourceTokensAllowed: g.ResourceAccessTokensAllowed,
		EnforceGranularTokens:       g.GranularEnforcement.Enforce,
		GranularTokensEnforcedAfter: datePtr(g.GranularEnforcement.After),
	}
}

// memberJSON is API::Entities::Member.
type memberJSON struct {
	userBasicJSON
	AccessLevel     int            `json:"access_level"`
	CreatedAt       string         `json:"created_at"`
	CreatedBy       *userBasicJSON `json:"created_by,omitempty"`
	ExpiresAt       *string        `json:"expires_at"`
	MembershipState string         `json:"membership_state"`
}

func (a *API) member(m keygate.Member, u keygate.User, createdBy *keygate.User) memberJSON {
	out := memberJSON{
		userBasicJSON: a.userBasic(u), AccessLevel: int(m.AccessLevel), CreatedAt: ts(m.CreatedAt),
		ExpiresAt: datePtr(m.ExpiresAt), MembershipState: "active",
	}
	if createdBy != nil {
		c := a.userBasic(*createdBy)
		out.CreatedBy = &c
	}
	return out
}

// resourceTokenJSON is API::Entities::ResourceAccessToken: the token object with
// last_used_ips, the bot's level and the resource it lives on.
type resourceTokenJSON struct {
	tokenWithIPsJSON
	AccessLevel  int    `json:"access_level"`
	ResourceType string `json:"resource_type"`
	ResourceID   int64  `json:"resource_id"`
}

type resourceTokenWithSecretJSON struct {
	resourceTokenJSON
	Token string `json:"token"`
}

// serviceAccountJSON is API::Entities::ServiceAccount.
type serviceAccountJSON struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Email    string `json:"email"`
}

package githttp

import (
	"net/http"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
)

// granular applies the fine-grained checks to a Git request (spec §3.5): a fine-grained
// token (or a legacy one under a group enforcing them) downloads with download_code and
// pushes with push_code on the project. A project it cannot see answers the usual Git
// 404 before anything that depends on the grant, so the grant reveals no existence. It
// replaces the caller's abilities and returns the boundary to record, or nil when the
// checks do not apply.
func (h *Handler) granular(r *http.Request, c *Caller, proj keygate.Project, found bool, res authz.Resource) (*authz.Boundary, error) {
	s := c.Subject
	if s.Token == nil || c.TokenID == 0 {
		return nil, nil
	}
	enforced := false
	if found && !s.Token.Granular {
		var err error
		if enforced, err = h.svc.GranularEnforced(r.Context(), s, proj.Namespace.TraversalIDs); err != nil {
			return nil, err
		}
	}
	if !authz.GranularApplies(s, enforced) {
		return nil, nil
	}
	if !found || !authz.CanRead(s, res) {
		return nil, denial(authz.Decision{Status: 404, Code: keygate.CodeNotFound, Message: authz.GitMsgNotFound})
	}
	b := authz.ProjectBoundary(s, proj, res)
	c.Abilities = authz.GranularGitAbilities(s, b)
	return &b, nil
}

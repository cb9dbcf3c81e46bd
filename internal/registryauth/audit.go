package registryauth

import (
	"context"
	"log/slog"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/service"
)

// AuditGrants is the GrantObserver servers use: each registry token that lets its
// holder push or delete is an audit event under the project, with the caller's token
// fingerprint, so a leaked token's registry writes can be traced.
type AuditGrants struct {
	Service *service.Service
	Log     *slog.Logger
}

// RegistryTokenGranted files one event per project the grant writes to.
func (g AuditGrants) RegistryTokenGranted(ctx context.Context, c Caller, ip string, access []Access) {
	ctx = service.WithOrigin(ctx, service.Origin{IP: ip, RequestID: service.OriginFrom(ctx).RequestID})
	auth := Authorizer{Service: g.Service}
	for _, a := range access {
		if !writes([]Access{a}) {
			continue
		}
		e := keygate.AuditEvent{
			Name: keygate.AuditRegistryGrant, IP: ip, Fingerprint: c.Fingerprint,
			TargetID: c.TokenID, TargetType: keygate.AuditTargetToken, TargetDetails: a.Name,
			Message: "Container registry token for " + a.Type + ":" + a.Name + ":" + strings.Join(a.Actions, ","),
		}
		if u := c.Subject.User; u.ID != 0 {
			e.AuthorID, e.AuthorName, e.AuthorEmail = u.ID, u.Name, u.Email
		}
		if c.Job != nil {
			e.TargetID, e.TargetType, e.TargetDetails = c.Job.Job.ID, "Ci::Build", c.Job.Job.Name
		}
		if a.Type == "repository" {
			if t, found, err := auth.Resolve(ctx, c, a.Name); err == nil && found {
				e.EntityType, e.EntityID, e.EntityPath = keygate.AuditProject, t.Project.ID, t.Project.FullPath()
			}
		}
		if err := g.Service.Audit(ctx, e); err != nil && g.Log != nil {
			g.Log.Error("registry: audit grant", "name", a.Name, "err", err)
		}
	}
}

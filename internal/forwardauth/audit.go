package forwardauth

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/service"
)

// deniedEvery bounds denial events: one per token and service in this interval, so a
// client retrying in a loop does not fill the audit log.
const deniedEvery = time.Minute

// maxAuditKeys bounds the memory of what was already audited; past it the memory is
// forgotten, which only repeats an event.
const maxAuditKeys = 100_000

type auditKey struct {
	tokenID int64
	job     bool
	service string
}

// auditor records a token's first use through each service (since this process
// started) and its denials, at most once per deniedEvery.
type auditor struct {
	svc *service.Service
	log *slog.Logger

	mu     sync.Mutex
	used   map[auditKey]struct{}
	denied map[auditKey]time.Time
}

func newAuditor(svc *service.Service, log *slog.Logger) *auditor {
	return &auditor{svc: svc, log: log, used: map[auditKey]struct{}{}, denied: map[auditKey]time.Time{}}
}

// observe looks at one answered request and starts the event it deserves, if any.
func (au *auditor) observe(r *http.Request, a answer) {
	if a.id == nil || a.svc == nil {
		return // anonymous, or no token known: throttling covers bad credentials
	}
	k := auditKey{tokenID: a.id.tokenID, job: a.id.job != nil, service: a.svc.Name}
	if a.id.job != nil {
		k.tokenID = a.id.job.Job.ID
	}
	var name, msg string
	now := au.svc.Clock().Now()
	au.mu.Lock()
	switch {
	case a.status == 200:
		if _, seen := au.used[k]; !seen {
			if len(au.used) >= maxAuditKeys {
				clear(au.used)
			}
			au.used[k] = struct{}{}
			name, msg = keygate.AuditGateFirstUse, "First use through service "+a.svc.Name
		}
	default:
		if last, ok := au.denied[k]; !ok || now.Sub(last) >= deniedEvery {
			if len(au.denied) >= maxAuditKeys {
				clear(au.denied)
			}
			au.denied[k] = now
			name, msg = keygate.AuditGateDenied, "Refused by service "+a.svc.Name
			if len(a.reasons) > 0 {
				msg += ": " + strings.Join(a.reasons, "; ")
			}
		}
	}
	au.mu.Unlock()
	if name == "" {
		return
	}
	ctx := service.WithOrigin(context.WithoutCancel(r.Context()), service.Origin{IP: clientIP(r), RequestID: r.Header.Get("X-Request-Id")})
	au.record(ctx, name, *a.id, msg)
}

func (au *auditor) record(ctx context.Context, name string, id identity, msg string) {
	user := id.user
	var err error
	if id.job != nil {
		p := id.job.Project
		err = au.svc.Audit(ctx, keygate.AuditEvent{
			Name: name, AuthorID: user.ID, AuthorName: user.Name, AuthorEmail: user.Email,
			EntityType: keygate.AuditProject, EntityID: p.ID, EntityPath: p.FullPath(),
			TargetID: id.job.Job.ID, TargetType: "Ci::Build", TargetDetails: id.job.Job.Name, Message: msg,
		})
	} else {
		err = au.svc.AuditToken(ctx, &user, name, keygate.Token{ID: id.tokenID, UserID: user.ID}, msg)
	}
	if err != nil {
		au.log.Error("gate: audit", "event", name, "err", err)
	}
}

package keygate

import "time"

// SourceType says what a membership is of: a project or a namespace (group).
type SourceType string

// The membership sources, spelled as GitLab's members.source_type.
const (
	SourceProject   SourceType = "Project"
	SourceNamespace SourceType = "Namespace"
)

// Member is one direct membership.
type Member struct {
	ID          int64
	SourceType  SourceType
	SourceID    int64
	UserID      int64
	AccessLevel AccessLevel
	ExpiresAt   *Date
	CreatedAt   time.Time
	CreatedByID int64
}

// Active reports whether the membership still grants access at now: a membership stops
// at 00:00 UTC of its expiry date.
func (m Member) Active(now time.Time) bool {
	return m.ExpiresAt == nil || now.Before(m.ExpiresAt.Start())
}

package keygate

import "time"

// AuditEntity is the kind of thing an audit event is filed under (GitLab's entity_type).
type AuditEntity string

// The entity types of GitLab's audit events API.
const (
	AuditUser     AuditEntity = "User"
	AuditGroup    AuditEntity = "Group"
	AuditProject  AuditEntity = "Project"
	AuditInstance AuditEntity = "Gitlab::Audit::InstanceScope"
)

// ParseAuditEntity accepts the entity_type values GitLab's audit events API accepts.
func ParseAuditEntity(s string) (AuditEntity, bool) {
	switch e := AuditEntity(s); e {
	case AuditUser, AuditGroup, AuditProject, AuditInstance:
		return e, true
	}
	return "", false
}

// Audit event names. Token events are filed under the token's resource (the project or
// group of a resource token, the owner for personal, impersonation and service-account
// tokens); the names follow GitLab's where GitLab has one.
const (
	AuditTokenCreated       = "token_created"
	AuditTokenRotated       = "token_rotated"
	AuditTokenRevoked       = "token_revoked"
	AuditTokenExpired       = "token_expired"
	AuditTokenReuse         = "token_reuse_detected"
	AuditTokenNewIP         = "token_used_from_new_ip"
	AuditTokenLeakRevoked   = "token_revoked_as_leaked"
	AuditAdminTokenLookup   = "admin_token_lookup"
	AuditImpersonation      = "user_impersonation"
	AuditSudo               = "sudo_request"
	AuditSettingsUpdated    = "application_settings_updated"
	AuditHookCreated        = "webhook_created"
	AuditHookDestroyed      = "webhook_destroyed"
	AuditSignedIn           = "user_signed_in"
	AuditSignInFailed       = "user_sign_in_failed"
	AuditAccessLocked       = "user_access_locked"
	AuditPasswordChanged    = "user_password_changed"
	AuditRotationReplayed   = "token_rotation_replayed"
	AuditIdempotencyReused  = "idempotency_key_mismatch"
	AuditGateFirstUse       = "gate_token_first_use"
	AuditGateDenied         = "gate_denied"
	AuditRegistryGrant      = "container_registry_token_granted"
	AuditTargetToken        = "PersonalAccessToken"
	AuditTargetUser         = "User"
	AuditTargetSettings     = "ApplicationSetting"
	AuditTargetHook         = "WebHook"
	AuditInstanceEntityID   = 1
	AuditInstanceEntityPath = "gitlab_instance"
)

// AuditEvent is one entry of the audit log: who (author) did what (Name, Message) to
// which target, filed under an entity, from where (IP, RequestID). Fingerprint is the
// unkeyed SHA-256 of the token involved (secret.Fingerprint), never the token.
type AuditEvent struct {
	ID            int64
	Name          string
	AuthorID      int64 // 0: Keygate itself (the scheduler, an anonymous leak report)
	AuthorName    string
	AuthorEmail   string
	EntityType    AuditEntity
	EntityID      int64
	EntityPath    string
	TargetID      int64
	TargetType    string
	TargetDetails string
	IP            string
	RequestID     string
	Fingerprint   string
	Message       string
	CreatedAt     time.Time
}

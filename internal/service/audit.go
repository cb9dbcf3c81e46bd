package service

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/store"
)

// Origin is where a request came from, as audit events record it.
type Origin struct {
	IP        string
	RequestID string
	// UserID is the authenticated caller: the author of events whose service call names
	// no actor (the service-account routes act as Keygate on the caller's behalf).
	UserID int64
}

// originKey carries the request's Origin. It is request metadata for the audit log, not
// a dependency: services that find none record empty fields.
type originKey struct{}

// WithOrigin returns ctx carrying the request's origin (the API sets it per request).
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the origin WithOrigin stored, or the zero Origin.
func OriginFrom(ctx context.Context) Origin {
	o, _ := ctx.Value(originKey{}).(Origin)
	return o
}

// Audit records one audit event. Fields left empty are filled in: CreatedAt from the
// service clock, IP and RequestID from the context's Origin, EntityPath and the
// author's name and e-mail from the store. It is the one entry point other features use
// to audit what they do; events about a token should come from AuditToken, which files
// them under the token's resource and adds its fingerprint.
func (s *Service) Audit(ctx context.Context, e keygate.AuditEvent) error {
	err := s.store.InTx(ctx, func(tx store.Tx) error { return s.auditTx(ctx, tx, e) })
	if err != nil {
		return internal("audit "+e.Name, err)
	}
	return nil
}

// AuditToken records an event about token t, by actor (nil: Keygate itself), under the
// token's resource: the project or group of a resource token, the owner otherwise. The
// fingerprint is the one recorded when the token was issued, when there is one.
func (s *Service) AuditToken(ctx context.Context, actor *keygate.User, name string, t keygate.Token, message string) error {
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		return s.auditTokenTx(ctx, tx, actor, name, t, "", message)
	})
	if err != nil {
		return internal("audit "+name, err)
	}
	return nil
}

// auditTx writes e inside tx, filling in what the caller left empty.
func (s *Service) auditTx(ctx context.Context, tx store.Tx, e keygate.AuditEvent) error {
	o := OriginFrom(ctx)
	if e.IP == "" {
		e.IP = o.IP
	}
	if e.RequestID == "" {
		e.RequestID = o.RequestID
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.clock.Now()
	}
	if e.AuthorID == 0 && !keygateActs(e.Name) {
		e.AuthorID = o.UserID
	}
	if e.AuthorID != 0 && e.AuthorName == "" {
		if u, err := tx.User(ctx, e.AuthorID); err == nil {
			e.AuthorName, e.AuthorEmail = u.Name, u.Email
		}
	}
	if e.EntityType == "" {
		e.EntityType, e.EntityID, e.EntityPath = keygate.AuditInstance, keygate.AuditInstanceEntityID, keygate.AuditInstanceEntityPath
	}
	if err := tx.CreateAuditEvent(ctx, &e); err != nil {
		return err
	}
	s.log.Info("audit", "event", e.Name, "author_id", e.AuthorID, "entity_type", e.EntityType,
		"entity_id", e.EntityID, "target_id", e.TargetID, "ip", e.IP, "request_id", e.RequestID)
	return nil
}

// auditTokenTx files an event about t. fp is the token's fingerprint when the caller
// holds the plaintext; otherwise the stored one is used.
func (s *Service) auditTokenTx(ctx context.Context, tx store.Tx, actor *keygate.User, name string, t keygate.Token, fp, message string) error {
	if fp == "" {
		got, err := tx.TokenFingerprint(ctx, t.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		fp = got
	}
	e := keygate.AuditEvent{
		Name: name, TargetID: t.ID, TargetType: keygate.AuditTargetToken, TargetDetails: t.Name,
		Fingerprint: fp, Message: message,
	}
	if actor != nil {
		e.AuthorID, e.AuthorName, e.AuthorEmail = actor.ID, actor.Name, actor.Email
	}
	if err := s.fileUnderOwner(ctx, tx, &e, t.UserID); err != nil {
		return err
	}
	return s.auditTx(ctx, tx, e)
}

// fileUnderOwner sets e's entity from a token owner: a bot's project or group, else the
// user.
func (s *Service) fileUnderOwner(ctx context.Context, tx store.Reader, e *keygate.AuditEvent, ownerID int64) error {
	owner, err := tx.User(ctx, ownerID)
	if errors.Is(err, store.ErrNotFound) {
		e.EntityType, e.EntityID = keygate.AuditUser, ownerID
		return nil
	}
	if err != nil {
		return err
	}
	e.EntityType, e.EntityID, e.EntityPath = keygate.AuditUser, owner.ID, owner.Username
	if owner.Type != keygate.UserProjectBot {
		return nil
	}
	switch owner.BotSourceType {
	case keygate.SourceProject:
		if p, err := tx.Project(ctx, owner.BotSourceID); err == nil {
			e.EntityType, e.EntityID, e.EntityPath = keygate.AuditProject, p.ID, p.FullPath()
		}
	case keygate.SourceNamespace:
		if g, err := tx.Namespace(ctx, owner.BotSourceID); err == nil {
			e.EntityType, e.EntityID, e.EntityPath = keygate.AuditGroup, g.ID, g.FullPath
		}
	}
	return nil
}

// keygateActs names the events Keygate itself causes, whoever made the request: they keep
// author 0 even inside an authenticated request.
func keygateActs(name string) bool {
	switch name {
	case keygate.AuditTokenReuse, keygate.AuditTokenNewIP, keygate.AuditTokenExpired, keygate.AuditTokenLeakRevoked:
		return true
	}
	return false
}

// actorUser is the user behind a subject, nil for Keygate itself.
func actorUser(sub authz.Subject) *keygate.User {
	if sub.System || sub.User.ID == 0 {
		return nil
	}
	u := sub.User
	return &u
}

// fingerprintOf is the audit fingerprint of a presented token string ("" when it is not
// a token at all: garbage is not worth a fingerprint).
func fingerprintOf(raw string) string {
	tok, err := secret.Parse(raw)
	if err != nil {
		return ""
	}
	return secret.Fingerprint(tok)
}

// AuditFilterFor is the audit-log view a subject may read of a project or group: all
// events with the role (Maintainer on projects, Owner on groups, or an administrator),
// otherwise only the subject's own (GitLab's rule for Developers).
func AuditFilterFor(sub authz.Subject, res authz.Resource, kind keygate.AuditEntity) store.AuditFilter {
	f := store.AuditFilter{EntityType: kind, EntityID: res.ID}
	if !authz.DecideResource(sub, res, authz.ActReadTokens).Allowed {
		f.AuthorID = sub.User.ID
	}
	return f
}

// AuditEvents lists audit events. Administrators see everything; others must come
// through AuditFilterFor, whose entity restriction is enforced here.
func (s *Service) AuditEvents(ctx context.Context, sub authz.Subject, f store.AuditFilter) ([]keygate.AuditEvent, int, error) {
	if !sub.Admin() && (f.EntityType != keygate.AuditProject && f.EntityType != keygate.AuditGroup || f.EntityID == 0) {
		return nil, 0, forbidden("")
	}
	es, n, err := s.store.AuditEvents(ctx, f)
	if err != nil {
		return nil, 0, internal("list audit events", err)
	}
	return es, n, nil
}

// AuditEvent returns one event, if it matches the filter the subject may read.
func (s *Service) AuditEvent(ctx context.Context, sub authz.Subject, f store.AuditFilter, id int64) (keygate.AuditEvent, error) {
	if !sub.Admin() && (f.EntityType != keygate.AuditProject && f.EntityType != keygate.AuditGroup || f.EntityID == 0) {
		return keygate.AuditEvent{}, forbidden("")
	}
	e, err := s.store.AuditEvent(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return e, notFound("Audit Event")
	}
	if err != nil {
		return e, internal("get audit event", err)
	}
	if f.EntityType != "" && (e.EntityType != f.EntityType || f.EntityID != 0 && e.EntityID != f.EntityID) ||
		f.AuthorID != 0 && e.AuthorID != f.AuthorID {
		return keygate.AuditEvent{}, notFound("Audit Event")
	}
	return e, nil
}

// tokenKindMessage names a token type for audit messages.
func tokenKindMessage(t keygate.TokenType) string {
	switch t {
	case keygate.TokenImpersonation:
		return "impersonation token"
	case keygate.TokenProject:
		return "project access token"
	case keygate.TokenGroup:
		return "group access token"
	case keygate.TokenServiceAccount:
		return "service account token"
	}
	return "personal access token"
}

func auditMessage(verb string, t keygate.Token, owner keygate.User) string {
	return fmt.Sprintf("%s %s %q (id %d) with scopes %s", verb, tokenKindMessage(t.TypeFor(owner)), t.Name, t.ID, t.Scopes.String())
}

// auditIssued files the event of a token just issued (created or rotated into), whose
// plaintext sec is at hand for the fingerprint. owner may be the zero User; it is then
// loaded.
func (s *Service) auditIssued(ctx context.Context, tx store.Tx, actor *keygate.User, name string, t keygate.Token, owner keygate.User, sec secret.Token, verb string) error {
	if owner.ID == 0 {
		var err error
		if owner, err = tx.User(ctx, t.UserID); err != nil {
			return err
		}
	}
	msg := auditMessage(verb, t, owner)
	if err := s.auditTokenTx(ctx, tx, actor, name, t, secret.Fingerprint(sec), msg); err != nil {
		return err
	}
	if err := s.mailTokenEventTx(ctx, tx, name, t); err != nil {
		return err
	}
	if t.Impersonation && name == keygate.AuditTokenCreated {
		e := keygate.AuditEvent{
			Name: keygate.AuditImpersonation, EntityType: keygate.AuditUser, EntityID: owner.ID,
			EntityPath: owner.Username, TargetID: owner.ID, TargetType: keygate.AuditTargetUser,
			TargetDetails: owner.Username, Fingerprint: secret.Fingerprint(sec),
			Message: fmt.Sprintf("Started impersonating %s with token %d", owner.Username, t.ID),
		}
		if actor != nil {
			e.AuthorID = actor.ID
		}
		return s.auditTx(ctx, tx, e)
	}
	return nil
}

// AuditSudo records a request an administrator made as another user (spec §5.2).
func (s *Service) AuditSudo(ctx context.Context, admin keygate.User, t keygate.Token, target keygate.User, request string) error {
	return s.Audit(ctx, keygate.AuditEvent{
		Name: keygate.AuditSudo, AuthorID: admin.ID, EntityType: keygate.AuditUser, EntityID: target.ID,
		EntityPath: target.Username, TargetID: target.ID, TargetType: keygate.AuditTargetUser,
		TargetDetails: target.Username,
		Message:       fmt.Sprintf("%s acted as %s with token %d: %s", admin.Username, target.Username, t.ID, request),
	})
}

// settingsDiff names the settings that differ, as "Field: old → new", for the audit
// message (no setting is a secret).
func settingsDiff(a, b keygate.Settings) string {
	av, bv := reflect.ValueOf(a), reflect.ValueOf(b)
	var parts []string
	for i := range av.NumField() {
		x, y := av.Field(i).Interface(), bv.Field(i).Interface()
		if x != y {
			parts = append(parts, fmt.Sprintf("%s: %v → %v", av.Type().Field(i).Name, x, y))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

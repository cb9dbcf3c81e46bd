package service

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/store"
)

// HookInput carries the fields of a hook create or edit; nil leaves a field as it is
// (on create: GitLab's default).
type HookInput struct {
	URL                       *string
	Name                      *string
	Description               *string
	Token                     *string
	ResourceAccessTokenEvents *bool
	PushEvents                *bool
	EnableSSLVerification     *bool
}

// URL-check refusals, GitLab's wording (Gitlab::HTTP_V2::UrlBlocker).
const (
	msgHookLocalhost = "is blocked: Requests to localhost are not allowed"
	msgHookLocalNet  = "is blocked: Requests to the local network are not allowed"
	msgHookScheme    = "is blocked: Only allowed schemes are http, https"
	msgHookInvalid   = "is blocked: URI is invalid"
	msgHookResolve   = "is blocked: Host cannot be resolved or invalid"
)

// IsLocalAddress reports whether addr is loopback, private, link-local, unspecified or
// otherwise not a public destination: what allow_local_requests_from_web_hooks_and_services
// governs.
func IsLocalAddress(addr netip.Addr) bool {
	addr = addr.Unmap()
	return addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() ||
		addr.IsLinkLocalMulticast() || addr.IsUnspecified() || addr.IsMulticast() ||
		addr.IsInterfaceLocalMulticast() || netip.MustParsePrefix("100.64.0.0/10").Contains(addr)
}

// checkHookURL validates a hook URL: http or https, a host, and, unless local requests
// are allowed, no name or address that resolves to a local one.
func (s *Service) checkHookURL(ctx context.Context, raw string, st keygate.Settings) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" || len(raw) > 2048 {
		return invalid("url", msgHookInvalid)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalid("url", msgHookScheme)
	}
	if u.User != nil && u.User.Username() == "" {
		return invalid("url", msgHookInvalid)
	}
	if st.AllowLocalRequestsFromWebHooksAndServices {
		return nil
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return invalid("url", msgHookLocalhost)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ips, err := s.lookupIP(ctx, host)
		if err != nil || len(ips) == 0 {
			return invalid("url", msgHookResolve)
		}
		for _, ip := range ips {
			if a, ok := netip.AddrFromSlice(ip); ok {
				addrs = append(addrs, a)
			}
		}
	}
	for _, a := range addrs {
		if a.Unmap().IsLoopback() || a.IsUnspecified() {
			return invalid("url", msgHookLocalhost)
		}
		if IsLocalAddress(a) {
			return invalid("url", msgHookLocalNet)
		}
	}
	return nil
}

// canManageHooks: Maintainer on a project, Owner on a group (GitLab's admin_project /
// admin_group), or an administrator.
func canManageHooks(sub authz.Subject, src Source) bool {
	return authz.DecideResource(sub, src.Resource, authz.ActUpdate).Allowed
}

func errHookNotFound() error { return notFound("Not found") }

// Hooks lists a project's or group's webhooks.
func (s *Service) Hooks(ctx context.Context, sub authz.Subject, src Source) ([]keygate.Hook, error) {
	if !canManageHooks(sub, src) {
		return nil, forbidden("")
	}
	hs, err := s.store.Hooks(ctx, src.Type, src.ID)
	if err != nil {
		return nil, internal("list hooks", err)
	}
	return hs, nil
}

// Hook returns one of the source's webhooks.
func (s *Service) Hook(ctx context.Context, sub authz.Subject, src Source, id int64) (keygate.Hook, error) {
	if !canManageHooks(sub, src) {
		return keygate.Hook{}, forbidden("")
	}
	h, err := s.store.Hook(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && (h.SourceType != src.Type || h.SourceID != src.ID) {
		return keygate.Hook{}, errHookNotFound()
	}
	if err != nil {
		return keygate.Hook{}, internal("get hook", err)
	}
	return h, nil
}

func applyHookInput(h *keygate.Hook, in HookInput) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setb := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	set(&h.URL, in.URL)
	set(&h.Name, in.Name)
	set(&h.Description, in.Description)
	set(&h.SecretToken, in.Token)
	setb(&h.ResourceAccessTokenEvents, in.ResourceAccessTokenEvents)
	setb(&h.PushEvents, in.PushEvents)
	setb(&h.EnableSSLVerification, in.EnableSSLVerification)
}

func (s *Service) validateHook(ctx context.Context, h keygate.Hook) error {
	if h.URL == "" {
		return invalid("url", "url is missing")
	}
	if len(h.Name) > 255 {
		return invalid("name", "is too long (maximum is 255 characters)")
	}
	if len(h.Description) > 2048 {
		return invalid("description", "is too long (maximum is 2048 characters)")
	}
	st, err := s.settings(ctx)
	if err != nil {
		return err
	}
	return s.checkHookURL(ctx, h.URL, st)
}

// CreateHook adds a webhook to a project or group (push_events on by default, as GitLab).
func (s *Service) CreateHook(ctx context.Context, sub authz.Subject, src Source, in HookInput) (keygate.Hook, error) {
	if !canManageHooks(sub, src) {
		return keygate.Hook{}, forbidden("")
	}
	h := keygate.Hook{SourceType: src.Type, SourceID: src.ID, PushEvents: true, EnableSSLVerification: true, CreatedAt: s.clock.Now()}
	applyHookInput(&h, in)
	if err := s.validateHook(ctx, h); err != nil {
		return keygate.Hook{}, err
	}
	var err error
	if h.SecretToken, err = s.sealHookSecret(h.SecretToken); err != nil {
		return keygate.Hook{}, internal("seal hook token", err)
	}
	err = s.store.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateHook(ctx, &h); err != nil {
			return err
		}
		return s.auditHookTx(ctx, tx, sub, keygate.AuditHookCreated, src, h, "Created webhook")
	})
	if err != nil {
		return keygate.Hook{}, internal("create hook", err)
	}
	return h, nil
}

// UpdateHook edits one of the source's webhooks.
func (s *Service) UpdateHook(ctx context.Context, sub authz.Subject, src Source, id int64, in HookInput) (keygate.Hook, error) {
	h, err := s.Hook(ctx, sub, src, id)
	if err != nil {
		return h, err
	}
	applyHookInput(&h, in)
	if err := s.validateHook(ctx, h); err != nil {
		return keygate.Hook{}, err
	}
	if in.Token != nil {
		if h.SecretToken, err = s.sealHookSecret(*in.Token); err != nil {
			return keygate.Hook{}, internal("seal hook token", err)
		}
	}
	if err := s.store.InTx(ctx, func(tx store.Tx) error { return tx.UpdateHook(ctx, h) }); err != nil {
		return keygate.Hook{}, internal("update hook", err)
	}
	return h, nil
}

// DeleteHook removes one of the source's webhooks with its deliveries.
func (s *Service) DeleteHook(ctx context.Context, sub authz.Subject, src Source, id int64) error {
	h, err := s.Hook(ctx, sub, src, id)
	if err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(tx store.Tx) error {
		if err := tx.DeleteHook(ctx, h.ID); err != nil {
			return err
		}
		return s.auditHookTx(ctx, tx, sub, keygate.AuditHookDestroyed, src, h, "Destroyed webhook")
	})
	if err != nil {
		return internal("delete hook", err)
	}
	return nil
}

// HookDeliveries lists one hook's deliveries, newest first.
func (s *Service) HookDeliveries(ctx context.Context, sub authz.Subject, src Source, id int64, page store.Page) ([]keygate.Outbound, int, error) {
	h, err := s.Hook(ctx, sub, src, id)
	if err != nil {
		return nil, 0, err
	}
	os, n, err := s.store.Outbox(ctx, store.OutboxFilter{Kind: keygate.OutboxWebhook, HookID: h.ID, Page: page})
	if err != nil {
		return nil, 0, internal("list deliveries", err)
	}
	return os, n, nil
}

// SetExtendedExpiryWebhooks sets a project's or group's extended_*_expiry_webhooks_execute.
func (s *Service) SetExtendedExpiryWebhooks(ctx context.Context, sub authz.Subject, src Source, on bool) error {
	if !canManageHooks(sub, src) {
		return forbidden("")
	}
	l := keygate.ResourceLifecycle{SourceType: src.Type, SourceID: src.ID, ExtendedExpiryWebhooks: on}
	if err := s.store.InTx(ctx, func(tx store.Tx) error { return tx.PutResourceLifecycle(ctx, l) }); err != nil {
		return internal("save lifecycle settings", err)
	}
	return nil
}

// ExtendedExpiryWebhooks reads a project's or group's extended_*_expiry_webhooks_execute.
func (s *Service) ExtendedExpiryWebhooks(ctx context.Context, src Source) (bool, error) {
	l, err := s.store.ResourceLifecycle(ctx, src.Type, src.ID)
	if err != nil {
		return false, internal("load lifecycle settings", err)
	}
	return l.ExtendedExpiryWebhooks, nil
}

func (s *Service) auditHookTx(ctx context.Context, tx store.Tx, sub authz.Subject, name string, src Source, h keygate.Hook, msg string) error {
	e := keygate.AuditEvent{Name: name, TargetID: h.ID, TargetType: keygate.AuditTargetHook, TargetDetails: h.URL, Message: msg}
	if u := actorUser(sub); u != nil {
		e.AuthorID = u.ID
	}
	if src.Type == keygate.SourceProject {
		e.EntityType, e.EntityID = keygate.AuditProject, src.ID
		if p, err := tx.Project(ctx, src.ID); err == nil {
			e.EntityPath = p.FullPath()
		}
	} else {
		e.EntityType, e.EntityID = keygate.AuditGroup, src.ID
		if g, err := tx.Namespace(ctx, src.ID); err == nil {
			e.EntityPath = g.FullPath
		}
	}
	return s.auditTx(ctx, tx, e)
}

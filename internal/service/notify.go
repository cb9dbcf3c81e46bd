package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// Mail is one message for a Mailer: plain text and HTML alternatives of the same content.
type Mail struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Mailer delivers mail (the SMTP client in package notify). Without one, mails go to the
// log and stay in the recipient's in-app list.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// HookRequest is one webhook call.
type HookRequest struct {
	URL         string
	SecretToken string // sent as X-Gitlab-Token when set
	Event       string // X-Gitlab-Event
	Body        []byte
	// AllowLocal lets the call reach loopback and private addresses
	// (allow_local_requests_from_web_hooks_and_services); the poster checks the address
	// it dials, not only the name.
	AllowLocal bool
	// SkipTLSVerify is the hook's enable_ssl_verification turned off.
	SkipTLSVerify bool
}

// HookPoster delivers webhook calls (package notify), answering the receiver's status.
type HookPoster interface {
	Post(ctx context.Context, r HookRequest) (status int, err error)
}

// HookEventAccessToken is the X-Gitlab-Event of expiring-token webhooks (spec §6.5).
const HookEventAccessToken = "Resource Access Token Hook"

// Outbox delivery: a lease keeps other nodes off an entry being sent; failures back off
// exponentially from a minute up to six hours, for ever: nothing is dropped.
const (
	deliveryLease  = 5 * time.Minute
	deliveryBatch  = 50
	backoffInitial = time.Minute
	backoffMax     = 6 * time.Hour
)

// retryAfter is the wait before attempt n+1 after n failed attempts.
func retryAfter(n int) time.Duration {
	d := backoffInitial
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// LifecycleReport says what one lifecycle pass did.
type LifecycleReport struct {
	Notices    int // expiry notices claimed (each with its mails and webhooks)
	Mails      int // mails queued
	Webhooks   int // webhook deliveries queued
	Delivered  int // outbox entries delivered in this pass
	Failed     int // outbox attempts that failed (retried later)
	BotsPurged int
}

// RunLifecycle is one pass of the scheduler: expiry notices due today (claimed once per
// token and threshold, whichever node runs it), then the due outbox entries. `keygate
// serve` runs it periodically; `keygate admin lifecycle run` once.
func (s *Service) RunLifecycle(ctx context.Context) (LifecycleReport, error) {
	var rep LifecycleReport
	if err := s.expiryNotices(ctx, &rep); err != nil {
		return rep, err
	}
	if err := s.deliverDue(ctx, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// DeliverDue sends the outbox entries that are due (the retry loop).
func (s *Service) DeliverDue(ctx context.Context) (LifecycleReport, error) {
	var rep LifecycleReport
	err := s.deliverDue(ctx, &rep)
	return rep, err
}

// noticeBatch is how many candidates one query of the expiry pass reads.
const noticeBatch = 200

func (s *Service) expiryNotices(ctx context.Context, rep *LifecycleReport) error {
	now := s.clock.Now()
	today := keygate.DateOf(now)
	for {
		// Each claim, won here or by another node, takes its token out of the next
		// query, so the loop ends; a pass between thresholds reads no token at all.
		ts, err := s.store.NoticeCandidates(ctx, today, noticeBatch)
		if err != nil {
			return internal("list expiring tokens", err)
		}
		for _, t := range ts {
			if err := s.expiryNotice(ctx, t, today, now, rep); err != nil {
				return err
			}
		}
		if len(ts) < noticeBatch {
			return nil
		}
	}
}

// expiryNotice claims and queues the notice due for t: mails, webhooks, and on the
// expiry day the token_expired audit event, in the claim's transaction.
func (s *Service) expiryNotice(ctx context.Context, t keygate.Token, today keygate.Date, now time.Time, rep *LifecycleReport) error {
	th, ok := keygate.NoticeThreshold(*t.ExpiresAt, today)
	if !ok {
		return nil
	}
	var claimed bool
	var mails, hooks int
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		mails, hooks = 0, 0
		var err error
		if claimed, err = tx.ClaimNotice(ctx, t.ID, th, now); err != nil || !claimed {
			return err
		}
		if th == keygate.NoticeExpired {
			msg := fmt.Sprintf("Token %q (id %d) expired on %s", t.Name, t.ID, t.ExpiresAt)
			if err := s.auditTokenTx(ctx, tx, nil, keygate.AuditTokenExpired, t, "", msg); err != nil {
				return err
			}
		}
		if mails, err = s.queueMails(ctx, tx, noticeEvent(th), t); err != nil {
			return err
		}
		hooks, err = s.queueExpiryHooks(ctx, tx, th, t)
		return err
	})
	if err != nil {
		return internal("expiry notice", err)
	}
	if claimed {
		rep.Notices++
		rep.Mails += mails
		rep.Webhooks += hooks
	}
	return nil
}

// noticeEvent names the mail event of a threshold.
func noticeEvent(th int) string {
	if th == keygate.NoticeExpired {
		return "token_expired"
	}
	return fmt.Sprintf("token_expiring_%dd", th)
}

// mailTokenEventTx queues the mails about a token created, rotated or revoked.
func (s *Service) mailTokenEventTx(ctx context.Context, tx store.Tx, event string, t keygate.Token) error {
	if t.Impersonation {
		return nil // GitLab mails nobody about impersonation tokens
	}
	_, err := s.queueMails(ctx, tx, event, t)
	return err
}

// tokenContext is what a notice about a token says of it.
type tokenContext struct {
	token   keygate.Token
	owner   keygate.User
	kind    keygate.TokenType
	project *keygate.Project
	group   *keygate.Namespace
}

func (s *Service) tokenContext(ctx context.Context, r store.Reader, t keygate.Token) (tokenContext, error) {
	tc := tokenContext{token: t}
	owner, err := r.User(ctx, t.UserID)
	if err != nil {
		return tc, err
	}
	tc.owner, tc.kind = owner, t.TypeFor(owner)
	switch tc.kind {
	case keygate.TokenProject:
		p, err := r.Project(ctx, owner.BotSourceID)
		if err != nil {
			return tc, err
		}
		tc.project = &p
	case keygate.TokenGroup:
		g, err := r.Namespace(ctx, owner.BotSourceID)
		if err != nil {
			return tc, err
		}
		tc.group = &g
	}
	return tc, nil
}

// recipients are who GitLab mails about a token: its owner for personal tokens (a service
// account's creator, the account having no mailbox of its own), the direct Maintainers
// and Owners of a project token's project, the direct Owners of a group token's group;
// inherited ones too when resource_access_token_notify_inherited is on.
func (s *Service) recipients(ctx context.Context, r store.Reader, tc tokenContext) ([]keygate.User, error) {
	now := s.clock.Now()
	switch tc.kind {
	case keygate.TokenPersonal:
		if tc.owner.State != keygate.UserActive {
			return nil, nil // a blocked or deactivated owner's tokens do not work anyway
		}
		return []keygate.User{tc.owner}, nil
	case keygate.TokenServiceAccount:
		if tc.owner.CreatedByID == 0 {
			return []keygate.User{tc.owner}, nil
		}
		u, err := r.User(ctx, tc.owner.CreatedByID)
		if errors.Is(err, store.ErrNotFound) {
			return []keygate.User{tc.owner}, nil
		}
		return []keygate.User{u}, err
	case keygate.TokenProject, keygate.TokenGroup:
	default:
		return nil, nil
	}
	st, err := r.Settings(ctx) // r: inside a transaction, another pool connection may never come
	if err != nil {
		return nil, err
	}
	var f store.MemberFilter
	min := keygate.Owner
	var extra []int64
	if tc.project != nil {
		min = keygate.Maintainer
		f = store.MemberFilter{SourceType: keygate.SourceNamespace, SourceIDs: []int64{}, ProjectIDs: []int64{tc.project.ID}}
		if st.ResourceAccessTokenNotifyInherited {
			f.SourceIDs = tc.project.Namespace.TraversalIDs
		}
		if tc.project.Namespace.Kind == keygate.NamespaceUser {
			extra = append(extra, tc.project.Namespace.OwnerID)
		}
	} else {
		ids := []int64{tc.group.ID}
		if st.ResourceAccessTokenNotifyInherited {
			ids = tc.group.TraversalIDs
		}
		f = store.MemberFilter{SourceType: keygate.SourceNamespace, SourceIDs: ids}
	}
	ms, err := r.Members(ctx, f)
	if err != nil {
		return nil, err
	}
	seen := map[int64]bool{}
	var out []keygate.User
	add := func(id int64) error {
		if seen[id] {
			return nil
		}
		seen[id] = true
		u, err := r.User(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if u.Bot() || u.State != keygate.UserActive {
			return nil
		}
		out = append(out, u)
		return nil
	}
	for _, m := range ms {
		if m.AccessLevel < min || !m.Active(now) {
			continue
		}
		if err := add(m.UserID); err != nil {
			return nil, err
		}
	}
	for _, id := range extra {
		if err := add(id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// queueMails puts one mail per recipient in the outbox, in tx.
func (s *Service) queueMails(ctx context.Context, tx store.Tx, event string, t keygate.Token) (int, error) {
	tc, err := s.tokenContext(ctx, tx, t)
	if err != nil {
		return 0, err
	}
	to, err := s.recipients(ctx, tx, tc)
	if err != nil {
		return 0, err
	}
	now := s.clock.Now()
	for _, u := range to {
		m := s.composeMail(event, tc, u)
		o := keygate.Outbound{
			Kind: keygate.OutboxMail, UserID: u.ID, TokenID: t.ID, Event: event,
			Recipient: u.Email, Subject: m.Subject, BodyText: m.Text, BodyHTML: m.HTML,
			CreatedAt: now, NextAttemptAt: &now,
		}
		if err := tx.Enqueue(ctx, &o); err != nil {
			return 0, err
		}
	}
	return len(to), nil
}

// rotateLink is the page where the token can be rotated.
func (s *Service) rotateLink(tc tokenContext) string {
	base := strings.TrimRight(s.externalURL, "/")
	switch {
	case tc.project != nil:
		return base + "/" + tc.project.FullPath() + "/-/settings/access_tokens"
	case tc.group != nil:
		return base + "/groups/" + tc.group.FullPath + "/-/settings/access_tokens"
	case tc.kind == keygate.TokenServiceAccount:
		return base + "/admin/application_settings/service_accounts"
	}
	return base + "/-/user_settings/personal_access_tokens"
}

// composeMail writes a notice: the token's name, scopes, expiry and where to rotate it.
// Never the token: only the row's fields reach it.
func (s *Service) composeMail(event string, tc tokenContext, to keygate.User) Mail {
	kind := tokenKindMessage(tc.kind)
	where := ""
	switch {
	case tc.project != nil:
		where = " in project " + tc.project.FullPath()
	case tc.group != nil:
		where = " in group " + tc.group.FullPath
	}
	var subject, lead string
	switch event {
	case keygate.AuditTokenCreated:
		subject = "A new " + kind + " has been created"
		lead = fmt.Sprintf("A new %s%s was created.", kind, where)
	case keygate.AuditTokenRotated:
		subject = "Your " + kind + " has been rotated"
		lead = fmt.Sprintf("A %s%s was rotated; this is its successor.", kind, where)
	case keygate.AuditTokenRevoked:
		subject = "Your " + kind + " has been revoked"
		lead = fmt.Sprintf("A %s%s was revoked and no longer works.", kind, where)
	case keygate.AuditTokenLeakRevoked:
		subject = "Your " + kind + " was found leaked and has been revoked"
		lead = fmt.Sprintf("A %s%s was reported as publicly exposed and has been revoked. Create a new one and replace it wherever the old one was used.", kind, where)
	case "token_expired":
		subject = "Your " + kind + " has expired"
		lead = fmt.Sprintf("A %s%s expired today and no longer works.", kind, where)
	default:
		days := strings.TrimSuffix(strings.TrimPrefix(event, "token_expiring_"), "d")
		subject = fmt.Sprintf("Your %s will expire in %s days or less", kind, days)
		lead = fmt.Sprintf("A %s%s will expire in %s days or less.", kind, where, days)
	}
	exp := "never"
	if tc.token.ExpiresAt != nil {
		exp = tc.token.ExpiresAt.String()
	}
	scopes := strings.Join(tc.token.Scopes.Strings(), ", ")
	link := s.rotateLink(tc)
	greet := to.Name
	if greet == "" {
		greet = to.Username
	}
	text := fmt.Sprintf("Hi %s!\n\n%s\n\nName: %s\nScopes: %s\nExpires at: %s\n\nYou can rotate or create tokens at %s\n",
		greet, lead, tc.token.Name, scopes, exp, link)
	e := html.EscapeString
	htmlBody := fmt.Sprintf("<!DOCTYPE html>\n<html><body>\n<p>Hi %s!</p>\n<p>%s</p>\n<ul>\n<li>Name: %s</li>\n<li>Scopes: %s</li>\n<li>Expires at: %s</li>\n</ul>\n<p>You can rotate or create tokens at <a href=\"%s\">%s</a>.</p>\n</body></html>\n",
		e(greet), e(lead), e(tc.token.Name), e(scopes), e(exp), e(link), e(link))
	return Mail{To: to.Email, Subject: subject, Text: text, HTML: htmlBody}
}

// queueExpiryHooks queues the Resource Access Token Hook of a resource token at a
// threshold: 7 days always, 30 and 60 only with the resource's extended setting, none on
// the expiry day (spec §6.5).
func (s *Service) queueExpiryHooks(ctx context.Context, tx store.Tx, th int, t keygate.Token) (int, error) {
	if th == keygate.NoticeExpired {
		return 0, nil
	}
	tc, err := s.tokenContext(ctx, tx, t)
	if err != nil {
		return 0, err
	}
	var src keygate.SourceType
	var id int64
	switch {
	case tc.project != nil:
		src, id = keygate.SourceProject, tc.project.ID
	case tc.group != nil:
		src, id = keygate.SourceNamespace, tc.group.ID
	default:
		return 0, nil
	}
	if th != keygate.NoticeSevenDays {
		l, err := tx.ResourceLifecycle(ctx, src, id)
		if err != nil {
			return 0, err
		}
		if !l.ExtendedExpiryWebhooks {
			return 0, nil
		}
	}
	hooks, err := tx.Hooks(ctx, src, id)
	if err != nil {
		return 0, err
	}
	body, err := json.Marshal(s.accessTokenPayload(tc))
	if err != nil {
		return 0, err
	}
	now := s.clock.Now()
	n := 0
	for _, h := range hooks {
		if !h.ResourceAccessTokenEvents {
			continue
		}
		o := keygate.Outbound{
			Kind: keygate.OutboxWebhook, HookID: h.ID, TokenID: t.ID, Event: "expiring_access_token",
			Recipient: h.URL, Subject: HookEventAccessToken, BodyText: string(body), CreatedAt: now, NextAttemptAt: &now,
		}
		if err := tx.Enqueue(ctx, &o); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// hookTime is how GitLab formats times in webhook object_attributes.
const hookTime = "2006-01-02 15:04:05 MST"

// accessTokenPayload is the body of the Resource Access Token Hook (spec §6.5).
func (s *Service) accessTokenPayload(tc tokenContext) map[string]any {
	t := tc.token
	attrs := map[string]any{
		"user_id": t.UserID, "created_at": t.CreatedAt.UTC().Format(hookTime), "id": t.ID,
		"name": t.Name, "expires_at": nil,
	}
	if t.ExpiresAt != nil {
		attrs["expires_at"] = t.ExpiresAt.String()
	}
	if t.LastUsedAt != nil {
		attrs["last_used_at"] = t.LastUsedAt.UTC().Format(hookTime)
	}
	out := map[string]any{"object_kind": "access_token", "object_attributes": attrs, "event_name": "expiring_access_token"}
	base := strings.TrimRight(s.externalURL, "/")
	if p := tc.project; p != nil {
		web := base + "/" + p.FullPath()
		out["project"] = map[string]any{
			"id": p.ID, "name": p.Name, "description": nullable(p.Description), "web_url": web,
			"avatar_url": nil, "git_ssh_url": "git@" + s.host() + ":" + p.FullPath() + ".git",
			"git_http_url": web + ".git", "namespace": p.Namespace.Name,
			"visibility_level": visibilityLevel(p.Visibility), "path_with_namespace": p.FullPath(),
			"default_branch": p.DefaultBranch, "ci_config_path": nil, "homepage": web,
			"url": "git@" + s.host() + ":" + p.FullPath() + ".git", "ssh_url": "git@" + s.host() + ":" + p.FullPath() + ".git",
			"http_url": web + ".git",
		}
	}
	if g := tc.group; g != nil {
		out["group"] = map[string]any{"group_name": g.Name, "group_path": g.Path, "group_id": g.ID, "full_path": g.FullPath}
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// visibilityLevel is GitLab's numeric visibility (0 private, 10 internal, 20 public).
func visibilityLevel(v keygate.Visibility) int {
	switch v {
	case keygate.Public:
		return 20
	case keygate.Internal:
		return 10
	}
	return 0
}

// deliverDue sends what the outbox holds due now, batch by batch.
func (s *Service) deliverDue(ctx context.Context, rep *LifecycleReport) error {
	for {
		now := s.clock.Now()
		var due []keygate.Outbound
		err := s.store.InTx(ctx, func(tx store.Tx) error {
			var err error
			due, err = tx.ClaimDue(ctx, now, deliveryLease, deliveryBatch)
			return err
		})
		if err != nil {
			return internal("claim outbox", err)
		}
		for _, o := range due {
			status, sendErr := s.deliver(ctx, o)
			at := s.clock.Now()
			var next *time.Time
			errText := ""
			if sendErr != nil {
				n := at.Add(retryAfter(o.Attempts + 1))
				next, errText = &n, sendErr.Error()
				rep.Failed++
				s.log.Warn("delivery failed; will retry", "kind", o.Kind, "id", o.ID, "event", o.Event,
					"attempt", o.Attempts+1, "next_attempt_at", n, "err", sendErr)
			} else {
				rep.Delivered++
			}
			if err := s.store.InTx(ctx, func(tx store.Tx) error {
				return tx.FinishAttempt(ctx, o.ID, at, status, errText, next)
			}); err != nil {
				return internal("record delivery", err)
			}
		}
		if len(due) < deliveryBatch {
			return nil
		}
	}
}

// deliver makes one attempt at an outbox entry.
func (s *Service) deliver(ctx context.Context, o keygate.Outbound) (int, error) {
	switch o.Kind {
	case keygate.OutboxMail:
		if s.mailer == nil {
			s.log.Info("notice (no SMTP configured; kept in the in-app list)", "to_user_id", o.UserID,
				"event", o.Event, "subject", o.Subject, "token_id", o.TokenID)
			return 0, nil
		}
		if o.Recipient == "" {
			return 0, nil // nobody to mail; the in-app list has it
		}
		err := s.mailer.Send(ctx, Mail{To: o.Recipient, Subject: o.Subject, Text: o.BodyText, HTML: o.BodyHTML})
		return 0, err
	case keygate.OutboxWebhook:
		h, err := s.store.Hook(ctx, o.HookID)
		if err != nil {
			return 0, err
		}
		st, err := s.settings(ctx)
		if err != nil {
			return 0, err
		}
		if err := s.checkHookURL(ctx, h.URL, st); err != nil {
			return 0, err
		}
		if s.poster == nil {
			return 0, errors.New("no webhook client configured")
		}
		secretToken, err := s.openHookSecret(h.SecretToken)
		if err != nil {
			return 0, err
		}
		status, err := s.poster.Post(ctx, HookRequest{URL: h.URL, SecretToken: secretToken, Event: o.Subject,
			Body: []byte(o.BodyText), AllowLocal: st.AllowLocalRequestsFromWebHooksAndServices, SkipTLSVerify: !h.EnableSSLVerification})
		if err == nil && (status < 200 || status > 299) {
			err = fmt.Errorf("receiver answered %d", status)
		}
		return status, err
	}
	return 0, fmt.Errorf("unknown outbox kind %q", o.Kind)
}

// auditSightings files "used from a new IP" for uses from addresses the token was not
// seen from before. It runs in the use writer, before the addresses are written.
func (s *Service) auditSightings(ctx context.Context, seen []sighting) {
	for _, sg := range seen {
		t, err := s.store.Token(ctx, sg.tokenID)
		if err != nil {
			continue // revoked and purged meanwhile, or the store is down: not worth failing uses
		}
		known := false
		for _, ip := range t.LastUsedIPs {
			if ip == sg.ip {
				known = true
				break
			}
		}
		if known {
			continue
		}
		err = s.store.InTx(ctx, func(tx store.Tx) error {
			c := WithOrigin(ctx, Origin{IP: sg.ip, RequestID: sg.requestID})
			return s.auditTokenTx(c, tx, nil, keygate.AuditTokenNewIP, t, "",
				fmt.Sprintf("Token %q (id %d) used from a new address %s", t.Name, t.ID, sg.ip))
		})
		if err != nil {
			s.log.Warn("audit new address", "token_id", t.ID, "err", err)
		}
	}
}

// Notices lists a user's own notices, newest first (the in-app list).
func (s *Service) Notices(ctx context.Context, userID int64, page store.Page) ([]keygate.Outbound, int, error) {
	os, n, err := s.store.Outbox(ctx, store.OutboxFilter{Kind: keygate.OutboxMail, UserID: userID, Page: page})
	if err != nil {
		return nil, 0, internal("list notices", err)
	}
	return os, n, nil
}

// outboxRetryEvery is how often the scheduler retries due outbox entries between passes.
const outboxRetryEvery = 5 * time.Second

// lifecycleLoop is the scheduler of `keygate serve`: the expiry-notice pass every
// lifeEvery, the outbox every outboxRetryEvery, on the service clock's judgement of
// what is due.
func (s *Service) lifecycleLoop(ctx context.Context) {
	tick := time.NewTicker(min(outboxRetryEvery, s.lifeEvery))
	defer tick.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.uses.stop:
			return
		case now := <-tick.C:
			var err error
			if now.Sub(last) >= s.lifeEvery {
				last = now
				_, err = s.RunLifecycle(ctx)
			} else {
				_, err = s.DeliverDue(ctx)
			}
			if err != nil {
				s.log.Warn("lifecycle pass", "err", err)
			}
		}
	}
}

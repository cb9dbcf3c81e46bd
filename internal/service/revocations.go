package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/clock"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/store"
)

// ErrTokenTypeUnsupported answers a token value of no type the lookup knows (spec §4.5).
var ErrTokenTypeUnsupported = &keygate.Error{Code: keygate.CodeUnprocessable, Message: "Token type not supported."}

// ErrUnsupportedRevoke answers DELETE /admin/token for a job token: it dies with its job.
var ErrUnsupportedRevoke = &keygate.Error{Code: keygate.CodeInvalid, Field: "error", Message: "Unsupported token type"}

// errLookupNotFound is the lookup's not found ({"message":{"error":"Not found"}}).
var errLookupNotFound = &keygate.Error{Code: keygate.CodeNotFound, Field: "error", Message: "Not found"}

// TokenLookup is what POST /admin/token finds: a token of the personal family with its
// owner, or a job.
type TokenLookup struct {
	Token *keygate.Token
	Owner keygate.User
	Job   *keygate.Job
}

// tokenKind classifies a presented value by prefix: "pat" (glpat- or the instance's
// current custom prefix), "job", or "".
func tokenKind(raw string, st keygate.Settings) string {
	switch {
	case strings.HasPrefix(raw, secret.PrefixJob):
		return "job"
	case strings.HasPrefix(raw, secret.PrefixPersonal), st.PersonalAccessTokenPrefix != "" && strings.HasPrefix(raw, st.PersonalAccessTokenPrefix):
		return "pat"
	}
	return ""
}

// LookupToken finds a token by its value for an administrator (spec §4.5), revoked and
// expired ones included, and audits the lookup with the token's fingerprint.
func (s *Service) LookupToken(ctx context.Context, sub authz.Subject, raw string) (TokenLookup, error) {
	if !sub.Admin() {
		return TokenLookup{}, forbidden("")
	}
	st, err := s.settings(ctx)
	if err != nil {
		return TokenLookup{}, err
	}
	var out TokenLookup
	switch tokenKind(raw, st) {
	case "pat":
		t, owner, err := s.tokenByValue(ctx, raw)
		if err != nil {
			return out, err
		}
		out.Token, out.Owner = &t, owner
	case "job":
		tok, err := secret.Parse(raw)
		if err != nil {
			return out, errLookupNotFound
		}
		d := s.dig.Digest(tok)
		j, err := s.store.JobByDigest(ctx, d[:])
		if errors.Is(err, store.ErrNotFound) {
			return out, errLookupNotFound
		}
		if err != nil {
			return out, internal("look up job", err)
		}
		out.Job = &j
	default:
		return out, ErrTokenTypeUnsupported
	}
	e := keygate.AuditEvent{
		Name: keygate.AuditAdminTokenLookup, Fingerprint: fingerprintOf(raw),
		TargetType: keygate.AuditTargetToken,
	}
	if u := actorUser(sub); u != nil {
		e.AuthorID = u.ID
	}
	if out.Token != nil {
		e.TargetID, e.TargetDetails = out.Token.ID, out.Token.Name
		e.Message = fmt.Sprintf("Looked up token %q (id %d) by value", out.Token.Name, out.Token.ID)
		if err := s.fileUnderOwner(ctx, s.store, &e, out.Token.UserID); err != nil {
			return out, internal("audit lookup", err)
		}
	} else {
		e.TargetID, e.TargetType, e.Message = out.Job.ID, "Ci::Build", fmt.Sprintf("Looked up the job token of job %d by value", out.Job.ID)
		e.EntityType, e.EntityID = keygate.AuditProject, out.Job.ProjectID
	}
	if err := s.Audit(ctx, e); err != nil {
		return out, err
	}
	return out, nil
}

// tokenByValue finds a personal-family token by its plaintext.
func (s *Service) tokenByValue(ctx context.Context, raw string) (keygate.Token, keygate.User, error) {
	tok, err := secret.Parse(raw)
	if err != nil {
		return keygate.Token{}, keygate.User{}, errLookupNotFound
	}
	d := s.dig.Digest(tok)
	t, err := s.store.TokenByDigest(ctx, d[:])
	if errors.Is(err, store.ErrNotFound) || err == nil && !d.Matches(t.Digest) {
		return keygate.Token{}, keygate.User{}, errLookupNotFound
	}
	if err != nil {
		return keygate.Token{}, keygate.User{}, internal("look up token", err)
	}
	owner, err := s.store.User(ctx, t.UserID)
	if err != nil {
		return t, owner, internal("token owner", err)
	}
	if full, err := s.store.Token(ctx, t.ID); err == nil {
		t = full // with its last-used addresses
	}
	return t, owner, nil
}

// RevokeByValue revokes a token found by its value (DELETE /admin/token), for every
// type of the personal family; job tokens cannot be revoked this way.
func (s *Service) RevokeByValue(ctx context.Context, sub authz.Subject, raw string) error {
	if !sub.Admin() {
		return forbidden("")
	}
	st, err := s.settings(ctx)
	if err != nil {
		return err
	}
	switch tokenKind(raw, st) {
	case "pat":
	case "job":
		if _, err := s.LookupToken(ctx, sub, raw); err != nil {
			return err
		}
		return ErrUnsupportedRevoke
	default:
		return ErrTokenTypeUnsupported
	}
	t, _, err := s.tokenByValue(ctx, raw)
	if err != nil {
		return err
	}
	return s.revoke(ctx, actorUser(sub), t)
}

// MaxRevocationBatch is the most tokens one leaked-token report may carry.
const MaxRevocationBatch = 1000

// RevocationsPerHour is how many leaked-token reports one address may make per hour.
const RevocationsPerHour = 60

// ErrRateLimited is a refusal by a rate limit; RetryAfter says when to come back.
type ErrRateLimited struct{ RetryAfter time.Duration }

func (e *ErrRateLimited) Error() string {
	return fmt.Sprintf("rate limited; retry after %s", e.RetryAfter)
}

// revocationLimiter counts leaked-token reports per address in a sliding hour of the
// service clock. It is per process: each node of a cluster allows the limit.
type revocationLimiter struct {
	clock clock.Clock
	mu    sync.Mutex
	calls map[string][]time.Time
}

func newRevocationLimiter(c clock.Clock) *revocationLimiter {
	if c == nil {
		c = clock.System{}
	}
	return &revocationLimiter{clock: c, calls: map[string][]time.Time{}}
}

// allow records a call from ip, or answers how long until one is allowed.
func (l *revocationLimiter) allow(ip string) (time.Duration, bool) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.calls) > 100_000 {
		for k, ts := range l.calls {
			if len(ts) == 0 || now.Sub(ts[len(ts)-1]) >= time.Hour {
				delete(l.calls, k)
			}
		}
	}
	ts := l.calls[ip]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= time.Hour {
		i++
	}
	ts = ts[i:]
	if len(ts) >= RevocationsPerHour {
		l.calls[ip] = ts
		wait := ts[0].Add(time.Hour).Sub(now)
		return max(wait, time.Second), false
	}
	l.calls[ip] = append(ts, now)
	return 0, true
}

// ReportLeaked is the Keygate extension for leaked tokens (like GitHub's credential
// revocation API): anyone may report up to MaxRevocationBatch token strings; each valid,
// active one is revoked, audited and its owner told. The caller learns nothing about
// which were tokens: the answer is the same whatever they were.
func (s *Service) ReportLeaked(ctx context.Context, ip string, raws []string) error {
	if wait, ok := s.revocations.allow(ip); !ok {
		return &ErrRateLimited{RetryAfter: wait}
	}
	if len(raws) > MaxRevocationBatch {
		return invalid("tokens", "too many tokens (at most %d)", MaxRevocationBatch)
	}
	seen := map[string]bool{}
	for _, raw := range raws {
		raw = strings.TrimSpace(raw)
		if raw == "" || seen[raw] {
			continue
		}
		seen[raw] = true
		tok, err := secret.Parse(raw)
		if err != nil {
			continue // not a token: no lookup for garbage
		}
		d := s.dig.Digest(tok)
		t, err := s.store.TokenByDigest(ctx, d[:])
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return internal("look up reported token", err)
		}
		if !d.Matches(t.Digest) || !t.Active(s.clock.Now()) {
			continue
		}
		if err := s.revokeLeaked(ctx, t, secret.Fingerprint(tok)); err != nil {
			return err
		}
	}
	return nil
}

// revokeLeaked revokes a reported token with its audit event and the owner's mail.
func (s *Service) revokeLeaked(ctx context.Context, t keygate.Token, fp string) error {
	now := s.clock.Now()
	seq, err := s.store.InTxMarker(ctx, func(tx store.Tx) error {
		did, err := tx.RevokeToken(ctx, t.ID, now)
		if err != nil || !did {
			return err
		}
		msg := fmt.Sprintf("Revoked token %q (id %d): reported as leaked", t.Name, t.ID)
		if err := s.auditTokenTx(ctx, tx, nil, keygate.AuditTokenLeakRevoked, t, fp, msg); err != nil {
			return err
		}
		return s.mailTokenEventTx(ctx, tx, keygate.AuditTokenLeakRevoked, t)
	})
	s.cache.ownWrite(seq, t.Digest)
	if err != nil {
		return internal("revoke reported token", err)
	}
	return nil
}

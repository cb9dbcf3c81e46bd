package service

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/store"
)

// IdempotencyWindow is how long a rotate endpoint remembers an Idempotency-Key and its
// answer (Keygate extension, DESIGN §1.1).
const IdempotencyWindow = 24 * time.Hour

// IdempotencyLease is how long an unanswered key is held for the request that reserved
// it. A rotation is one transaction that also stores its answer, so a key still
// unanswered after this long belongs to a process that died before rotating: a retry
// then claims it and rotates. Should the old holder commit after all, exactly one of
// the two rotations answers the key and the other rolls back.
const IdempotencyLease = time.Minute

// MaxIdempotencyKeyLen bounds the Idempotency-Key header (the IETF draft leaves it open;
// 255 matches what common APIs accept).
const MaxIdempotencyKeyLen = 255

// Idempotency errors. The key is global to the instance: a key already used with another
// token or another rotate request is refused rather than answered with someone else's
// successor.
var (
	// ErrIdempotencyMismatch: the key was used within its window for a different request
	// (another token, endpoint or expiry). 422, as the IETF Idempotency-Key draft says.
	ErrIdempotencyMismatch = &keygate.Error{Code: keygate.CodeUnprocessable,
		Message: "Idempotency-Key was already used for a different request"}
	// ErrIdempotencyInProgress: the first request with this key has not stored its
	// answer: it is still running (the answer commits with the rotation, so a process
	// that died left nothing rotated; the key frees when its window closes).
	// 409, as the draft says for a concurrent request.
	ErrIdempotencyInProgress = &keygate.Error{Code: keygate.CodeConflict,
		Message: "A request with this Idempotency-Key has not finished; its answer is not available"}
)

// IdempotentRequest identifies a rotate request that carries an Idempotency-Key.
type IdempotentRequest struct {
	Key string
	// Credential is the token as presented; it is only digested.
	Credential string
	// Request names what was asked (method, path, parameters) in a canonical form.
	Request string
}

// Replay is a stored answer.
type Replay struct {
	Status int
	Body   []byte
}

// idemKeys are the derived keys of the idempotency records.
type idemKeys struct {
	aead cipher.AEAD
}

func newIdemKeys(dig *secret.Digester) (*idemKeys, error) {
	k := dig.Derive("idempotency-seal-v1")
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &idemKeys{aead: aead}, nil
}

// ValidIdempotencyKey checks the header value: 1 to 255 visible ASCII characters.
func ValidIdempotencyKey(k string) error {
	if k == "" || len(k) > MaxIdempotencyKeyLen {
		return invalid("Idempotency-Key", "Idempotency-Key must be 1 to %d characters", MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return invalid("Idempotency-Key", "Idempotency-Key must be visible ASCII characters")
		}
	}
	return nil
}

// digests of an idempotent request: the key, the credential (the token's keyed digest,
// so that the same token presented in any header matches) and the request.
func (s *Service) idemDigests(r IdempotentRequest) (key, cred, req []byte) {
	k := s.dig.Derive("idempotency-key:" + r.Key)
	var c secret.Digest
	if tok, err := secret.Parse(r.Credential); err == nil {
		c = s.dig.Digest(tok)
	} else {
		c = s.dig.Derive("idempotency-credential:" + r.Credential)
	}
	q := s.dig.Derive("idempotency-request:" + r.Request)
	return k[:], c[:], q[:]
}

// IdempotentReplay looks for the answer of an earlier request with the same key. It runs
// before authentication, so that a retry presenting the token its first attempt rotated
// away gets the successor instead of tripping reuse detection (DESIGN §1.1). found is
// false when the key is unknown or its window has closed (the record is then erased).
func (s *Service) IdempotentReplay(ctx context.Context, r IdempotentRequest) (rep Replay, found bool, err error) {
	if err := ValidIdempotencyKey(r.Key); err != nil {
		return Replay{}, false, err
	}
	key, cred, req := s.idemDigests(r)
	rec, err := s.store.IdempotencyRecord(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return Replay{}, false, nil
	}
	if err != nil {
		return Replay{}, false, internal("load idempotency record", err)
	}
	now := s.clock.Now()
	if !now.Before(rec.ExpiresAt) {
		if err := s.store.DeleteIdempotencyRecord(ctx, key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return Replay{}, false, internal("erase idempotency record", err)
		}
		return Replay{}, false, nil
	}
	if !secret.Equal(rec.CredentialDigest, cred) || !secret.Equal(rec.RequestDigest, req) {
		s.auditIdempotency(ctx, keygate.AuditIdempotencyReused, r, "Idempotency-Key already used for another token or request")
		return Replay{}, false, ErrIdempotencyMismatch
	}
	if rec.Status == 0 {
		if now.Before(rec.CreatedAt.Add(IdempotencyLease)) {
			return Replay{}, false, ErrIdempotencyInProgress
		}
		// Abandoned: its holder died before its rotation committed (the answer commits
		// with the rotation), so nothing rotated and the retry may run it.
		if err := s.store.DeleteIdempotencyRecord(ctx, key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return Replay{}, false, internal("erase abandoned idempotency record", err)
		}
		return Replay{}, false, nil
	}
	body, err := s.idem.open(rec.SealedBody, key)
	if err != nil {
		return Replay{}, false, internal("open idempotency record", err)
	}
	s.auditIdempotency(ctx, keygate.AuditRotationReplayed, r, "Rotation answered again for its Idempotency-Key")
	return Replay{Status: rec.Status, Body: body}, true, nil
}

// auditIdempotency files an event about the token a retried rotate presented. A
// credential that names no token (garbage, a job token) is not worth an event: the
// answer to it is the same whoever asks.
func (s *Service) auditIdempotency(ctx context.Context, name string, r IdempotentRequest, message string) {
	t, owner, err := s.tokenByValue(ctx, r.Credential)
	if err != nil {
		return
	}
	if err := s.AuditToken(ctx, &owner, name, t, message+" ("+r.Request+")"); err != nil {
		s.log.Error("audit idempotent rotate", "event", name, "token_id", t.ID, "err", err)
	}
}

// ReserveIdempotency claims the key for an authenticated request about to run. Of two
// racing requests with one key exactly one wins; the other gets the replay, a mismatch
// or ErrIdempotencyInProgress.
func (s *Service) ReserveIdempotency(ctx context.Context, r IdempotentRequest) error {
	key, cred, req := s.idemDigests(r)
	now := s.clock.Now()
	err := s.store.CreateIdempotencyRecord(ctx, store.IdempotencyRecord{
		KeyDigest: key, CredentialDigest: cred, RequestDigest: req, CreatedAt: now, ExpiresAt: now.Add(IdempotencyWindow),
	})
	if errors.Is(err, store.ErrConflict) {
		if _, found, err := s.IdempotentReplay(ctx, r); err != nil || found {
			if err == nil {
				err = ErrIdempotencyInProgress // answered meanwhile: the caller retries for it
			}
			return err
		}
		// The holder's window closed and was erased just now: claim it afresh.
		return s.ReserveIdempotency(ctx, r)
	}
	if err != nil {
		return internal("reserve idempotency key", err)
	}
	return nil
}

// IdempotentAnswer carries a reserved idempotent request into the rotation it runs: the
// rotation seals the answer into the key's record in the transaction that rotates, so
// that after a crash either nothing rotated (the key is still unanswered, and released or
// left to its window) or a retry gets the committed successor (DESIGN §1.1).
type IdempotentAnswer struct {
	Request IdempotentRequest
	// Render is the answer of a rotation's result: an Issued (personal, impersonation
	// and service-account tokens) or a RotatedResource (project and group tokens).
	Render func(result any) (Replay, error)
	stored bool
}

// Stored reports whether a rotation committed the answer.
func (a *IdempotentAnswer) Stored() bool { return a.stored }

type idemAnswerKey struct{}

// WithIdempotentAnswer returns ctx carrying a for the rotation the request runs.
func WithIdempotentAnswer(ctx context.Context, a *IdempotentAnswer) context.Context {
	return context.WithValue(ctx, idemAnswerKey{}, a)
}

func idemAnswerFrom(ctx context.Context) *IdempotentAnswer {
	a, _ := ctx.Value(idemAnswerKey{}).(*IdempotentAnswer)
	return a
}

// answerIdempotent seals the answer of result into the record of ctx's idempotent
// request inside tx; answered is false when ctx carries none.
func (s *Service) answerIdempotent(ctx context.Context, tx store.Tx, result any) (answered bool, err error) {
	a := idemAnswerFrom(ctx)
	if a == nil {
		return false, nil
	}
	rep, err := a.Render(result)
	if err != nil {
		return false, fmt.Errorf("render idempotent answer: %w", err)
	}
	key, sealed, err := s.sealAnswer(a.Request, rep)
	if err != nil {
		return false, err
	}
	if err := tx.CompleteIdempotencyRecord(ctx, key, rep.Status, sealed); errors.Is(err, store.ErrNotFound) {
		// Another rotation answered (or a retry reclaimed) the key: this one rolls back.
		return false, ErrIdempotencyInProgress
	} else if err != nil {
		return false, err
	}
	return true, nil
}

// CompleteIdempotency stores the answer of a reserved request, sealed, for a success
// that did not answer its record in its own transaction.
func (s *Service) CompleteIdempotency(ctx context.Context, r IdempotentRequest, rep Replay) error {
	key, sealed, err := s.sealAnswer(r, rep)
	if err != nil {
		return err
	}
	if err := s.store.CompleteIdempotencyRecord(ctx, key, rep.Status, sealed); err != nil {
		return internal("store idempotency record", err)
	}
	return nil
}

func (s *Service) sealAnswer(r IdempotentRequest, rep Replay) (key, sealed []byte, err error) {
	key, _, _ = s.idemDigests(r)
	if sealed, err = s.idem.seal(rep.Body, key); err != nil {
		return nil, nil, internal("seal idempotency record", err)
	}
	return key, sealed, nil
}

// ReleaseIdempotency forgets a reserved key whose request failed without changing
// anything, so that a corrected retry with the same key runs.
func (s *Service) ReleaseIdempotency(ctx context.Context, r IdempotentRequest) error {
	key, _, _ := s.idemDigests(r)
	if rec, err := s.store.IdempotencyRecord(ctx, key); err == nil && rec.Status != 0 {
		return nil // answered by a rotation that won a race with this request: keep it
	}
	if err := s.store.DeleteIdempotencyRecord(ctx, key); err != nil && !errors.Is(err, store.ErrNotFound) {
		return internal("release idempotency key", err)
	}
	return nil
}

// PurgeIdempotency erases the records whose window closed, on the service clock. Start
// runs it every minute; it returns how many it erased.
func (s *Service) PurgeIdempotency(ctx context.Context) (int, error) {
	n, err := s.store.PurgeIdempotencyRecords(ctx, s.clock.Now())
	if err != nil {
		return 0, internal("purge idempotency records", err)
	}
	return n, nil
}

// seal encrypts a body bound to its record's key digest (the additional data), so a
// sealed body moved to another record does not open.
func (k *idemKeys) seal(body, keyDigest []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(body)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(nonce, nonce, body, keyDigest), nil
}

func (k *idemKeys) open(sealed, keyDigest []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, fmt.Errorf("sealed body of %d bytes", len(sealed))
	}
	return k.aead.Open(nil, sealed[:n], sealed[n:], keyDigest)
}

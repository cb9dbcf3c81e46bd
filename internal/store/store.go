// Package store defines the persistence contract Keygate's services rely on and the error
// kinds every backend returns. The backends (sqlite, postgres) pass the one contract suite
// in storetest.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/keygate/keygate"
)

// Error kinds. Backends classify driver errors by code into these.
var (
	// ErrNotFound: no row matched (also an owner-scoped update or delete that touched none).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a unique constraint refused the write.
	ErrConflict = errors.New("store: conflict")
)

// Store is a Keygate database. Reads outside a transaction see committed data; every
// write happens inside InTx.
type Store interface {
	Reader
	// InTx runs fn in one transaction, committing when fn returns nil. Backends retry
	// serialization failures a bounded number of times, so fn must be safe to re-run.
	InTx(ctx context.Context, fn func(Tx) error) error
	// InTxMarker is InTx that also reports the Marker value its commit wrote (0 when the
	// transaction moved no Marker). Marker values grow by one per moving commit, so a
	// caller whose cache was current at N-1 knows that N is its own change alone.
	InTxMarker(ctx context.Context, fn func(Tx) error) (int64, error)
	// Marker returns a number that changes whenever any process committed a write that can
	// take access away (revocation, user state, settings). Callers compare it before
	// trusting a cache; it must be cheap enough to call on every request.
	Marker(ctx context.Context) (int64, error)
	// RecordUses writes last-used times and addresses. Each Use sets last_used_at only when
	// the stored value is absent or older than At minus LastUsedInterval, and records IP
	// among the token's five most recent addresses. It runs outside request paths.
	RecordUses(ctx context.Context, uses []Use) error
	// RecordJobTokenAuths upserts lines of job-token authentication logs outside request
	// paths, in one transaction: Count is added, LastAt kept as the latest. Lines naming
	// a project that no longer exists are skipped. It does not move the Marker.
	RecordJobTokenAuths(ctx context.Context, entries []keygate.JobTokenAuth) error
	// RecordPermissionUses adds aggregated fine-grained uses outside request paths, in one
	// transaction (Uses added, LastUsedAt kept as the latest), skips lines of tokens that
	// no longer exist, and deletes every line of a day before keepFrom. It does not move
	// the Marker.
	RecordPermissionUses(ctx context.Context, uses []keygate.PermissionUse, keepFrom keygate.Date) error
	// Fsck checks the invariants every write keeps (no orphan bot, no half-rotated or
	// forked rotation chain, no membership of a missing source) and lists the rows that
	// break one; empty means healthy. It writes nothing.
	Fsck(ctx context.Context) ([]Problem, error)
	// IdempotencyStore: rotate endpoints' Idempotency-Key records, reserved and released
	// outside token transactions (a rotation answers its record inside its own: Tx).
	IdempotencyStore
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// ConnectionLost reports whether err, returned by this store, means the database
	// could not be reached or a connection broke, rather than an answer from it.
	ConnectionLost(err error) bool
	// Close releases the database.
	Close() error
}

// Problem is one row that breaks an invariant Fsck checks.
type Problem struct {
	Check  string // the invariant, in words
	ID     int64  // the offending row's ID (user, token or membership, per Check)
	Detail string // a name or count that helps find it
}

// Reader holds the queries available both on a Store and inside a Tx.
type Reader interface {
	LifecycleReader

	User(ctx context.Context, id int64) (keygate.User, error)
	// UserByUsername matches case-insensitively, as GitLab does.
	UserByUsername(ctx context.Context, username string) (keygate.User, error)
	// UserByEmail matches case-insensitively.
	UserByEmail(ctx context.Context, email string) (keygate.User, error)
	// Users returns one page of users and the total number matching the filter.
	Users(ctx context.Context, f UserFilter) ([]keygate.User, int, error)

	// Token returns a token with its last-used IPs (most recent first).
	Token(ctx context.Context, id int64) (keygate.Token, error)
	// TokenByDigest is the verification lookup; it does not load last-used IPs.
	TokenByDigest(ctx context.Context, digest []byte) (keygate.Token, error)
	// Tokens returns one page of tokens and the total number matching the filter.
	Tokens(ctx context.Context, f TokenFilter) ([]keygate.Token, int, error)
	// PermissionUses returns token tokenID's aggregated uses on days from since on,
	// ordered by day, route, boundary kind and ID.
	PermissionUses(ctx context.Context, tokenID int64, since keygate.Date) ([]keygate.PermissionUse, error)

	// Settings returns the instance settings, keygate.DefaultSettings() when none were saved.
	Settings(ctx context.Context) (keygate.Settings, error)

	// Namespace returns a group or personal namespace by ID.
	Namespace(ctx context.Context, id int64) (keygate.Namespace, error)
	// NamespaceByPath matches the full path case-insensitively ("top/sub").
	NamespaceByPath(ctx context.Context, fullPath string) (keygate.Namespace, error)
	// Namespaces returns one page of namespaces and the total matching.
	Namespaces(ctx context.Context, f NamespaceFilter) ([]keygate.Namespace, int, error)
	// Project returns a project with its Namespace loaded.
	Project(ctx context.Context, id int64) (keygate.Project, error)
	// ProjectByPath matches "namespace/path" case-insensitively.
	ProjectByPath(ctx context.Context, fullPath string) (keygate.Project, error)
	// ProjectByLongestPath returns the project whose full path is the longest of
	// fullPaths (at most MaxPathCandidates, each "namespace/path", matched
	// case-insensitively), in one lookup; ErrNotFound when none is a project.
	ProjectByLongestPath(ctx context.Context, fullPaths []string) (keygate.Project, error)
	// Projects returns one page of projects (Namespace loaded) and the total matching.
	Projects(ctx context.Context, f ProjectFilter) ([]keygate.Project, int, error)
	// CountChildren counts the direct subgroups and projects of a namespace.
	CountChildren(ctx context.Context, namespaceID int64) (groups, projects int, err error)

	// Member returns one direct membership.
	Member(ctx context.Context, src keygate.SourceType, srcID, userID int64) (keygate.Member, error)
	// Members returns the direct memberships of the given sources (all pages: member
	// lists are reduced and paginated by the caller), ordered by source then user ID.
	Members(ctx context.Context, f MemberFilter) ([]keygate.Member, error)
	// MaxAccess is the user's highest active level among direct memberships of the
	// project (0 for none) and of the namespaces listed (an ancestor chain), in one
	// indexed query; NoAccess when there is none. Memberships expire at 00:00 UTC of
	// expires_at, judged at now.
	MaxAccess(ctx context.Context, userID, projectID int64, namespaceIDs []int64, now time.Time) (keygate.AccessLevel, error)

	// Job returns a CI job. Its Timeout is whole seconds (CreateJob rounds down).
	Job(ctx context.Context, id int64) (keygate.Job, error)
	// JobByDigest is the job-token verification lookup (one indexed query).
	JobByDigest(ctx context.Context, digest []byte) (keygate.Job, error)
	// JobTokenScope returns a project's job-token settings; a project that never saved
	// any has InboundEnabled true and PushAllowed false (GitLab's defaults). ErrNotFound
	// if there is no such project.
	JobTokenScope(ctx context.Context, projectID int64) (keygate.JobTokenScope, error)
	// AllowedProjects lists the projects whose job tokens may reach projectID (its inbound
	// allowlist), in the order added (ties by ID); empty, not ErrNotFound, for a project
	// that does not exist.
	AllowedProjects(ctx context.Context, projectID int64) ([]int64, error)
	// AllowedGroups lists the groups whose projects' job tokens may reach projectID, in
	// the order added (ties by ID); empty for a project that does not exist.
	AllowedGroups(ctx context.Context, projectID int64) ([]int64, error)
	// JobTokenAuthLog lists which other projects' job tokens reached projectID, most
	// recent first (ties by source project ID); empty for a project that does not exist.
	JobTokenAuthLog(ctx context.Context, projectID int64) ([]keygate.JobTokenAuth, error)

	// Session returns the web session whose ID has this digest, expired or not (callers
	// judge expiry); ErrNotFound if none.
	Session(ctx context.Context, digest []byte) (keygate.Session, error)
}

// Tx is a transaction's view: the reads plus the writes.
type Tx interface {
	Reader
	LifecycleTx
	// CreateUser inserts u and sets u.ID. A taken username or email is ErrConflict.
	CreateUser(ctx context.Context, u *keygate.User) error
	// UpdateUser overwrites every stored field of the user u.ID; ErrNotFound if none.
	// It moves the Marker (a block or an admin change must reach every cache).
	UpdateUser(ctx context.Context, u keygate.User) error
	// CreateToken inserts t and sets t.ID. A digest already stored is ErrConflict.
	CreateToken(ctx context.Context, t *keygate.Token) error
	// RevokeToken marks the token revoked at now. It reports whether this call revoked
	// it (false: it already was). ErrNotFound if no such token. It moves the Marker.
	RevokeToken(ctx context.Context, id int64, now time.Time) (bool, error)
	// RevokeDescendants revokes every still-active token whose rotation chain leads back to
	// id (reuse detection, spec §6.3) and returns how many it revoked. It moves the Marker.
	RevokeDescendants(ctx context.Context, id int64, now time.Time) (int, error)
	// PutSettings stores the instance settings. It moves the Marker.
	PutSettings(ctx context.Context, s keygate.Settings) error
	// CompleteIdempotencyRecord is IdempotencyStore's, inside the transaction: a rotation
	// stores its answer in the commit that rotates (ErrNotFound as there). It does not
	// move the Marker.
	CompleteIdempotencyRecord(ctx context.Context, keyDigest []byte, status int, sealedBody []byte) error

	// DeleteUser removes a user with its tokens and memberships (bot purge). It moves
	// the Marker.
	DeleteUser(ctx context.Context, id int64) error

	// CreateNamespace inserts n under n.ParentID (0: top level) and sets n.ID,
	// n.TraversalIDs and n.FullPath / n.FullName from the parent. A taken full path is
	// ErrConflict; a missing parent ErrNotFound.
	CreateNamespace(ctx context.Context, n *keygate.Namespace) error
	// UpdateNamespace writes name, path, visibility, description and the settings of
	// n.ID; a changed path or name is carried into the full path and full name of every
	// descendant. It moves the Marker (visibility can take access away).
	UpdateNamespace(ctx context.Context, n keygate.Namespace) error
	// DeleteNamespace removes a namespace with its subgroups, their projects and all
	// their memberships. It moves the Marker.
	DeleteNamespace(ctx context.Context, id int64) error
	// CreateProject inserts p and sets p.ID; a taken path in the namespace is ErrConflict.
	CreateProject(ctx context.Context, p *keygate.Project) error
	// UpdateProject writes name, path, visibility, description, default branch and last
	// activity. It moves the Marker.
	UpdateProject(ctx context.Context, p keygate.Project) error
	// DeleteProject removes a project and its memberships. It moves the Marker.
	DeleteProject(ctx context.Context, id int64) error

	// AddMember inserts a direct membership and sets m.ID; an existing one is ErrConflict.
	AddMember(ctx context.Context, m *keygate.Member) error
	// UpdateMember writes the level and expiry of an existing membership. It moves the
	// Marker.
	UpdateMember(ctx context.Context, m keygate.Member) error
	// RemoveMember deletes a direct membership (ErrNotFound if none). It moves the Marker.
	RemoveMember(ctx context.Context, src keygate.SourceType, srcID, userID int64) error

	// CreateJob inserts j and sets j.ID; a digest already stored is ErrConflict, a
	// missing project or user ErrNotFound. The timeout is stored in whole seconds,
	// rounded down; an empty digest or a negative timeout is an error.
	CreateJob(ctx context.Context, j *keygate.Job) error
	// FinishJob sets a running job's final status (success, failed or canceled; any other
	// is an error) and finish time (ErrNotFound if no such job; a job already finished is
	// left as it is and reports false). When it reports true it moves the Marker: the
	// job's token dies with it.
	FinishJob(ctx context.Context, id int64, status keygate.JobStatus, at time.Time) (bool, error)
	// PutJobTokenScope stores a project's job-token settings (ErrNotFound if no such
	// project). It moves the Marker.
	PutJobTokenScope(ctx context.Context, s keygate.JobTokenScope) error
	// AllowProject adds allowed to projectID's inbound allowlist (ErrConflict if there;
	// ErrNotFound if either project does not exist).
	AllowProject(ctx context.Context, projectID, allowed int64) error
	// DisallowProject removes it (ErrNotFound if absent). It moves the Marker.
	DisallowProject(ctx context.Context, projectID, allowed int64) error
	// AllowGroup adds a group to projectID's inbound allowlist (ErrConflict if there;
	// ErrNotFound if the project does not exist or groupID is no group: a personal
	// namespace counts as none).
	AllowGroup(ctx context.Context, projectID, groupID int64) error
	// DisallowGroup removes it (ErrNotFound if absent). It moves the Marker.
	DisallowGroup(ctx context.Context, projectID, groupID int64) error

	// CreateSession inserts a web session and sets s.ID; a digest already stored is
	// ErrConflict, a missing user ErrNotFound or a foreign-key error.
	CreateSession(ctx context.Context, s *keygate.Session) error
	// DeleteSession removes the session with this digest (ErrNotFound if none).
	DeleteSession(ctx context.Context, digest []byte) error
	// DeleteUserSessions removes every session of a user (blocking, password change) and
	// reports how many.
	DeleteUserSessions(ctx context.Context, userID int64) (int, error)
	// DeleteExpiredSessions removes sessions whose expiry is at or before now.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
}

// Use is one authenticated use of a token, batched by the service.
type Use struct {
	TokenID int64
	At      time.Time
	IP      string // "" when unknown
}

// LastUsedInterval is the least time between two writes of one token's last_used_at.
const LastUsedInterval = 10 * time.Minute

// MaxLastUsedIPs is how many distinct recent addresses are kept per token.
const MaxLastUsedIPs = 5

// Page selects one page of a list. Number starts at 1.
type Page struct {
	Number int
	Size   int
}

// Offset is the number of rows before the page.
func (p Page) Offset() int { return (p.Number - 1) * p.Size }

// UserFilter selects users. Zero values select everything.
type UserFilter struct {
	Username    string // exact, case-insensitive
	Search      string // substring of username, name or email, case-insensitive
	State       keygate.UserState
	Admins      bool
	ExcludeBots bool             // humans only
	Type        keygate.UserType // only this user type ("" any)
	// BotSourceType and BotSourceID, with Type, select the bots or service accounts of
	// one resource (projects and namespaces number their IDs apart, so give both).
	BotSourceType keygate.SourceType // "" any
	BotSourceID   int64              // 0 any
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
	OrderBy       string // id, name, username, created_at, updated_at; default id
	Sort          string // asc, desc; default desc
	Page          Page
}

// TokenFilter selects tokens. Zero values select everything.
type TokenFilter struct {
	UserID int64 // 0: any owner
	// OwnerType and OwnerSourceID select tokens by their owner: e.g. project bots
	// (UserProjectBot) of one project (BotSourceType SourceProject, BotSourceID 5).
	OwnerType       keygate.UserType
	OwnerSourceType keygate.SourceType
	OwnerSourceID   int64
	// HumanOwners excludes bots' and service accounts' tokens.
	HumanOwners    bool
	Impersonation  *bool // nil: both
	Revoked        *bool
	Granular       *bool  // nil: both fine-grained and legacy tokens
	State          string // "active", "inactive" or ""; judged at Now
	Now            time.Time
	Search         string // substring of the name, case-insensitive
	CreatedAfter   *time.Time
	CreatedBefore  *time.Time
	LastUsedAfter  *time.Time
	LastUsedBefore *time.Time
	ExpiresAfter   *keygate.Date
	ExpiresBefore  *keygate.Date
	// Sort is one of GitLab's token sorts (created_asc, created_desc, expires_asc,
	// expires_desc, last_used_asc, last_used_desc, name_asc, name_desc); "" (and any
	// other value) is id ascending, the order GitLab's offset pagination falls back to.
	Sort string
	Page Page
}

// NamespaceFilter selects namespaces. Zero values select everything.
type NamespaceFilter struct {
	Kind     keygate.NamespaceKind // "" any
	ParentID *int64                // direct children of; pointer to 0 for top level
	// DescendantsOf selects every namespace below this one (not itself).
	DescendantsOf int64
	IDs           []int64            // only these (nil: no restriction; empty: none)
	Search        string             // substring of name or path, case-insensitive
	Visibility    keygate.Visibility // exactly this visibility ("" any)
	// Visible restricts to what a viewer may see: visibility at least MinVisibility, or
	// related to MemberID by membership (of the namespace, an ancestor, a descendant group
	// or a project inside), or MemberID's personal namespace. Nil: no restriction
	// (administrators).
	Visible *Viewer
	// MemberOf restricts to namespaces where the user is a direct member with at least
	// the level (MinLevel 0: any level), or inherits that from an ancestor.
	MemberOf *Membership
	OrderBy  string // name, path, id, created_at; default name
	Sort     string // asc, desc; default asc
	Page     Page
}

// Viewer is who a visibility filter is for: the least visibility level the viewer
// sees without membership (keygate.Public for anonymous callers, Internal for signed-in
// ones; "" for none, so that only memberships open anything) and the user whose
// memberships open more (0: none).
type Viewer struct {
	MinVisibility keygate.Visibility
	MemberID      int64
	// Now judges membership expiry: a membership counts while Now is before 00:00 UTC of
	// its expires_at. Required with a MemberID (the query fails without it, so that a
	// forgotten clock cannot revive expired memberships).
	Now time.Time
}

// Membership selects resources where UserID has at least MinLevel, directly or through
// an ancestor group.
type Membership struct {
	UserID   int64
	MinLevel keygate.AccessLevel
	// Now judges membership expiry, as Viewer.Now (required).
	Now time.Time
}

// ProjectFilter selects projects. Zero values select everything.
type ProjectFilter struct {
	NamespaceID int64 // 0 any
	// IncludeSubgroups widens NamespaceID to its descendants.
	IncludeSubgroups bool
	IDs              []int64 // only these (nil: no restriction; empty: none)
	Search           string  // substring of name or path, case-insensitive
	Visibility       keygate.Visibility
	Visible          *Viewer     // as NamespaceFilter.Visible (membership of the project or an ancestor group, or owning the personal namespace)
	MemberOf         *Membership // direct or inherited membership, or owning the personal namespace (as Owner)
	// OwnedBy selects projects in the user's personal namespace or where the user is an
	// Owner directly or through an ancestor group.
	OwnedBy int64
	// Now judges membership expiry for OwnedBy, as Viewer.Now; when zero, the Now of
	// Visible or MemberOf serves, and with none of them OwnedBy fails.
	Now     time.Time
	OrderBy string // id, name, path, created_at, updated_at, last_activity_at; default created_at
	Sort    string // asc, desc; default desc
	Page    Page
}

// MemberFilter selects direct memberships, expired ones included (callers judge expiry
// with keygate.Member.Active). The sources selected are SourceIDs of SourceType plus the
// projects ProjectIDs; with both lists nil, every source of SourceType ("" any type).
type MemberFilter struct {
	SourceType keygate.SourceType
	SourceIDs  []int64
	// ProjectIDs adds the direct memberships of these projects (for /all on a project,
	// whose ancestors are namespaces).
	ProjectIDs []int64
	UserID     int64 // 0 any
}

// IdempotencyRecord is what a rotate endpoint keeps of one Idempotency-Key (Keygate
// extension): digests of the key, the presenting credential and the request, and once
// answered the status and the body sealed by the service. Status 0 means the request has
// not finished.
type IdempotencyRecord struct {
	KeyDigest        []byte
	CredentialDigest []byte
	RequestDigest    []byte
	Status           int
	SealedBody       []byte
	CreatedAt        time.Time
	ExpiresAt        time.Time
}

// IdempotencyStore holds the idempotency records of rotate endpoints. Its writes never
// move the Marker: they take no access away.
type IdempotencyStore interface {
	// IdempotencyRecord returns the record of a key digest (ErrNotFound if none), whether
	// or not its window has closed: the caller judges ExpiresAt on its clock.
	IdempotencyRecord(ctx context.Context, keyDigest []byte) (IdempotencyRecord, error)
	// CreateIdempotencyRecord stores r unanswered (its Status and SealedBody are ignored);
	// a key digest already stored is ErrConflict.
	CreateIdempotencyRecord(ctx context.Context, r IdempotencyRecord) error
	// CompleteIdempotencyRecord stores the answer of an unanswered record (ErrNotFound if
	// there is no such record or it was already answered).
	CompleteIdempotencyRecord(ctx context.Context, keyDigest []byte, status int, sealedBody []byte) error
	// DeleteIdempotencyRecord removes a record (ErrNotFound if none).
	DeleteIdempotencyRecord(ctx context.Context, keyDigest []byte) error
	// PurgeIdempotencyRecords deletes every record whose ExpiresAt is at or before now
	// and returns how many it deleted.
	PurgeIdempotencyRecords(ctx context.Context, now time.Time) (int, error)
}

// MaxPathCandidates bounds the paths one ProjectByLongestPath call weighs: a container
// repository name, its parent and its grandparent.
const MaxPathCandidates = 3

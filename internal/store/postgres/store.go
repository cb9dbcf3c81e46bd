package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
	"github.com/keygate/keygate/internal/store/sqlstore"
)

//go:embed migrations/*.up.sql
var migrationFiles embed.FS

// channel is the LISTEN/NOTIFY channel of revision changes. Payloads are
// "<schema>:<seq>"; the schema tells apart Keygate instances sharing one database.
const channel = "keygate_revision"

// notifyQuery queues the notification inside the transaction that moved the revision;
// PostgreSQL sends it on commit, and not at all on rollback.
const notifyQuery = "SELECT pg_notify('" + channel + "', current_schema() || ':' || seq) FROM revision WHERE id = 1"

// migrateLock serializes migrators of one schema across nodes; the lock is released with
// each migration's transaction. The first key is constant ("keygate"), the second the
// schema, so instances in different schemas do not wait for each other.
const migrateLock = "SELECT pg_advisory_xact_lock(hashtext('keygate'), hashtext(coalesce(current_schema(), '')))"

// maxAttempts bounds InTx runs on serialization failures and deadlocks.
const maxAttempts = 5

const (
	// listenHeartbeat is how long the listener waits for a notification before re-reading
	// the revision itself, proving its connection alive.
	listenHeartbeat = 5 * time.Second
	// heartbeatTimeout bounds that re-read; a connection that cannot answer in time is
	// treated as dead and Marker falls back to direct reads.
	heartbeatTimeout = 2 * time.Second
	// connectTimeout is the dial bound when the URL sets no connect_timeout.
	connectTimeout = 3 * time.Second
	// maxReconnectWait caps the listener's reconnect backoff.
	maxReconnectWait = 5 * time.Second
)

// sqlDB is sqlstore.DB under a name that, embedded, stays unexported: Store offers its
// methods, not the field.
type sqlDB = sqlstore.DB

// Store is the PostgreSQL store.Store.
type Store struct {
	*sqlDB
	pool   *pgxpool.Pool
	db     *sql.DB
	listen *pgx.ConnConfig

	seq         atomic.Int64 // the highest revision seen (listener, own commits, direct reads)
	listening   atomic.Bool  // the listener is connected and caught up: seq is current
	listenerPID atomic.Uint32
	stop        context.CancelFunc
	done        chan struct{}

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or key=value string, with
// pgxpool's pool_* settings if wanted), brings the schema up to date and starts the
// revision listener. Several nodes may open one database at once.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included: keep only the kind.
		return nil, errors.New("postgres: cannot parse the database URL")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// Without connect_timeout a dial to a vanished host waits for the kernel's TCP
		// timeout; requests must fail fast (503) instead.
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{pool: pool, db: stdlib.OpenDBFromPool(pool), listen: cfg.ConnConfig.Copy()}
	// Named, so an operator can tell it in pg_stat_activity: it is idle by design.
	s.listen.RuntimeParams["application_name"] = "keygate-listener"
	fail := func(err error) (*Store, error) {
		_ = s.db.Close()
		pool.Close()
		return nil, err
	}
	if err := s.db.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("postgres: connect: %w", err))
	}
	if err := sqlstore.Migrate(ctx, s.db, dialect{}, ms, migrateLock); err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}
	s.sqlDB, err = sqlstore.New(ctx, sqlstore.Config{
		Read: s.db, Write: s.db, Dialect: dialect{}, MaxAttempts: maxAttempts, Committed: s.observe,
	})
	if err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop, s.done = stop, make(chan struct{})
	go s.listenLoop(lctx)
	return s, nil
}

func migrations() ([]sqlstore.Migration, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return sqlstore.ReadMigrations(sub)
}

// observe records seq if it is the highest revision seen. Notifications arrive in commit
// order, but own commits and direct reads race with them; keeping the maximum keeps
// Marker from stepping back to a value a caller already compared against.
func (s *Store) observe(seq int64) {
	for {
		cur := s.seq.Load()
		if seq <= cur || s.seq.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// Marker returns the revision: from memory while the listener is healthy (see the
// package documentation for the staleness bound), from the database otherwise.
func (s *Store) Marker(ctx context.Context) (int64, error) {
	if s.listening.Load() {
		return s.seq.Load(), nil
	}
	var seq int64
	if err := s.db.QueryRowContext(ctx, sqlstore.RevisionQuery).Scan(&seq); err != nil {
		return 0, fmt.Errorf("postgres: marker: %w", err)
	}
	s.observe(seq)
	return s.seq.Load(), nil
}

// listenLoop keeps a listener connected until Close, reconnecting with jittered,
// capped exponential backoff.
func (s *Store) listenLoop(ctx context.Context) {
	defer close(s.done)
	wait := 50 * time.Millisecond
	for {
		caughtUp := s.listenOnce(ctx)
		s.listening.Store(false)
		if ctx.Err() != nil {
			return
		}
		if caughtUp {
			wait = 50 * time.Millisecond // it worked for a while: start over
		}
		timer := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		wait = min(2*wait, maxReconnectWait)
	}
}

// listenOnce runs one listener connection until it fails or ctx ends, and reports
// whether it got as far as serving Marker.
func (s *Store) listenOnce(ctx context.Context) (caughtUp bool) {
	conn, err := pgx.ConnectConfig(ctx, s.listen.Copy())
	if err != nil {
		return false
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), heartbeatTimeout)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return false
	}
	// Read the revision only after LISTEN: every commit is then either in this read or
	// announced by a notification still to come.
	var schema string
	var seq int64
	err = conn.QueryRow(ctx, "SELECT current_schema(), seq FROM revision WHERE id = 1").Scan(&schema, &seq)
	if err != nil {
		return false
	}
	s.observe(seq)
	s.listenerPID.Store(conn.PgConn().PID())
	defer s.listenerPID.Store(0)
	s.listening.Store(true)
	prefix := schema + ":"
	for {
		wctx, cancel := context.WithTimeout(ctx, listenHeartbeat)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true
		case pgconn.Timeout(err):
			hctx, cancel := context.WithTimeout(ctx, heartbeatTimeout)
			err := conn.QueryRow(hctx, sqlstore.RevisionQuery).Scan(&seq)
			cancel()
			if err != nil {
				return true
			}
			s.observe(seq)
		case err != nil:
			return true
		default:
			if v, ok := strings.CutPrefix(n.Payload, prefix); ok {
				if seq, err := strconv.ParseInt(v, 10, 64); err == nil {
					s.observe(seq)
				}
			}
		}
	}
}

// Ping asks the database for the revision row: it answers and the schema is there.
func (s *Store) Ping(ctx context.Context) error {
	var seq int64
	if err := s.db.QueryRowContext(ctx, sqlstore.RevisionQuery).Scan(&seq); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// ConnectionLost: anything but an answer from the server (a PgError) that came from the
// network or pgx's connection handling: a refused or timed-out dial, a connection closed
// under a query, an unexpected EOF.
func (s *Store) ConnectionLost(err error) bool {
	var pe *pgconn.PgError
	if err == nil || errors.As(err, &pe) {
		return false
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

// Close stops the listener and closes the pool. Later calls return the first's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		<-s.done
		s.listening.Store(false) // Marker now fails on the closed pool instead of lying
		s.closeErr = errors.Join(s.sqlDB.Close(), s.db.Close())
		s.pool.Close()
	})
	return s.closeErr
}

// dialect is PostgreSQL's sqlstore.Dialect.
type dialect struct{}

// Rebind turns ? into $n.
func (dialect) Rebind(q string) string { return sqlstore.RebindDollar(q) }

// Time passes the instant through; pgx encodes it as timestamptz.
func (dialect) Time(t time.Time) any { return t }

// Date is midnight UTC of the date; pgx encodes a date parameter from its calendar day.
func (dialect) Date(d keygate.Date) any { return d.Start() }

// The SQLSTATEs the store distinguishes.
const (
	uniqueViolation      = "23505"
	foreignKeyViolation  = "23503"
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
)

// Classify reads the SQLSTATE; the server's message text is not a contract.
func (dialect) Classify(err error) error {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return err
	}
	switch e.Code {
	case uniqueViolation:
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	case foreignKeyViolation:
		return fmt.Errorf("%w: referenced row: %w", store.ErrNotFound, err)
	}
	return err
}

// Retryable: a serialization failure or deadlock aborted the transaction through no fault
// of its own, and a re-run may succeed.
func (dialect) Retryable(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && (e.Code == serializationFailure || e.Code == deadlockDetected)
}

// MarkerMoved queues the notification that tells every node's listener, this one's
// included, about the new revision.
func (dialect) MarkerMoved(ctx context.Context, tx *sql.Tx, _ int64) error {
	_, err := tx.ExecContext(ctx, notifyQuery)
	return err
}

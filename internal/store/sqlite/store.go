package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
	"github.com/keygate/keygate/internal/store/sqlstore"
)

//go:embed migrations/*.up.sql
var migrationFiles embed.FS

// busyTimeout is how long a connection waits for another process's write lock before
// giving up with SQLITE_BUSY. Keygate's transactions are short, so this is only reached
// when something holds the file far longer than any of ours would.
const busyTimeout = 10 * time.Second

// mmapSize is how much of the file each connection reads through a memory map rather than
// read(2). None: a map made a cache miss ~20 % faster (18 against 22 µs on 10k tokens),
// but every page a reader touched stayed in the process's resident set, so a server on a
// million tokens (a 306 MB file) grew to 250–570 MB RSS, past the 200 MB budget, while
// its own memory was ~35 MB. Read through the OS page cache, the hot pages are cached
// all the same, outside the process (docs/performance.md, "Server memory").
const mmapSize = 0

// sqlDB is sqlstore.DB under a name that, embedded, stays unexported: Store offers its
// methods, not the field.
type sqlDB = sqlstore.DB

// Store is the SQLite store.Store.
type Store struct {
	*sqlDB
	write, read *sql.DB

	mu     sync.Mutex // guards the fields below and the pinned connection
	pin    *sql.Conn  // the Marker's connection; never writes, so data_version sees all commits
	dvStmt *sql.Stmt  // PRAGMA data_version on pin
	seqStm *sql.Stmt  // sqlstore.RevisionQuery on pin
	dv     int64      // data_version when seq was read
	seq    int64
	cached bool
	closed bool

	// The fast path of Marker: while the WAL-index header is byte for byte the one seen
	// before the last slow read, nothing has committed since and seq still holds.
	shmMu sync.RWMutex // held for reading around shm access; Close unmaps under it
	shm   *shmView     // nil when the index cannot be mapped: always the slow path
	fast  atomic.Pointer[fastMarker]
}

type fastMarker struct {
	hdr [walIndexHeaderLen]byte
	seq int64
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path and brings its schema up to
// date. Several processes may open one file at once.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	common := "_pragma=busy_timeout(" + fmt.Sprint(busyTimeout.Milliseconds()) + ")" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)" +
		"&_pragma=mmap_size(" + fmt.Sprint(mmapSize) + ")"
	base := "file:" + uriPath(path) + "?" + common

	s := &Store{}
	s.write, err = sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	s.write.SetConnMaxIdleTime(0)
	if err := walMode(ctx, s.write); err != nil {
		_ = s.write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := sqlstore.Migrate(ctx, s.write, dialect{}, ms, ""); err != nil {
		_ = s.write.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}

	readers := max(4, runtime.GOMAXPROCS(0))
	s.read, err = sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		_ = s.write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.read.SetMaxOpenConns(readers + 1) // + the pinned Marker connection
	s.read.SetMaxIdleConns(readers + 1)
	s.read.SetConnMaxLifetime(0)
	s.read.SetConnMaxIdleTime(0)
	if err := s.pinMarker(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("sqlite: open %s: marker connection: %w", path, err)
	}
	// The index exists once a connection has opened the file in WAL mode. Without it
	// (another platform, an odd file system) Marker stays on the data_version query.
	if v, err := openShm(path); err == nil {
		s.shm = v
	}
	s.sqlDB, err = sqlstore.New(ctx, sqlstore.Config{
		Read: s.read, Write: s.write, Dialect: dialect{}, MaxAttempts: 1, Prepare: true,
	})
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return s, nil
}

// walMode switches the file to WAL (persistent in the file, so a no-op on every later
// Open). It runs on the writer, before any reader connection exists. SQLite answers a
// concurrent switch by another process with SQLITE_BUSY without consulting busy_timeout,
// so this waits and retries for up to busyTimeout itself.
func walMode(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("journal_mode is %q, want wal", mode)
		case !isBusy(err) || time.Now().After(deadline):
			return fmt.Errorf("set journal_mode=WAL: %w", err)
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
}

// isBusy reports whether err is SQLITE_BUSY or one of its extended codes.
func isBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

func migrations() ([]sqlstore.Migration, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return sqlstore.ReadMigrations(sub)
}

// uriPath escapes the characters that would end or alter the path part of a file: URI.
func uriPath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

func (s *Store) pinMarker(ctx context.Context) error {
	var err error
	if s.pin, err = s.read.Conn(ctx); err != nil {
		return err
	}
	if s.dvStmt, err = s.pin.PrepareContext(ctx, "PRAGMA data_version"); err != nil {
		return err
	}
	s.seqStm, err = s.pin.PrepareContext(ctx, sqlstore.RevisionQuery)
	return err
}

// Marker returns the revision, re-reading it only when PRAGMA data_version on the pinned
// connection says some connection committed since the last read. It is never stale: the
// data_version check itself sees every commit made before the call.
func (s *Store) Marker(ctx context.Context) (int64, error) {
	s.shmMu.RLock()
	if s.shm != nil {
		if f := s.fast.Load(); f != nil && s.shm.header() == f.hdr {
			s.shmMu.RUnlock()
			return f.seq, nil
		}
	}
	s.shmMu.RUnlock()
	return s.slowMarker(ctx)
}

// slowMarker asks SQLite itself. The WAL-index header is copied before the question, so a
// commit racing with it changes the header relative to the copy and the next call asks
// again.
func (s *Store) slowMarker(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errClosed
	}
	var hdr [walIndexHeaderLen]byte
	s.shmMu.RLock()
	if s.shm != nil {
		hdr = s.shm.header()
	}
	s.shmMu.RUnlock()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	// Both statements are microseconds on a connection of our own, with no pool to wait
	// for; a cancellable context would only make database/sql and the driver start a
	// watcher goroutine each, which costs more than the query.
	ctx = context.WithoutCancel(ctx)
	var dv int64
	if err := s.dvStmt.QueryRowContext(ctx).Scan(&dv); err != nil {
		return 0, fmt.Errorf("sqlite: marker: %w", err)
	}
	if !s.cached || dv != s.dv {
		var seq int64
		if err := s.seqStm.QueryRowContext(ctx).Scan(&seq); err != nil {
			return 0, fmt.Errorf("sqlite: marker: %w", err)
		}
		s.dv, s.seq, s.cached = dv, seq, true
	}
	if s.shm != nil {
		s.fast.Store(&fastMarker{hdr: hdr, seq: s.seq})
	}
	return s.seq, nil
}

var errClosed = errors.New("sqlite: store closed")

// Ping reads the revision row through the reader pool: the file is there and answers.
func (s *Store) Ping(ctx context.Context) error {
	var seq int64
	if err := s.read.QueryRowContext(ctx, sqlstore.RevisionQuery).Scan(&seq); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// ConnectionLost: the file stayed locked by another process past busy_timeout, a
// temporary state a retry outlives. Other SQLite errors are answers (or bugs).
func (s *Store) ConnectionLost(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && (e.Code()&0xff == sqlite3.SQLITE_BUSY || e.Code()&0xff == sqlite3.SQLITE_LOCKED)
}

// Close closes every connection. The last connection to close checkpoints the WAL.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	s.shmMu.Lock()
	if s.shm != nil {
		errs = append(errs, s.shm.close())
		s.shm = nil
	}
	s.fast.Store(nil)
	s.shmMu.Unlock()
	if s.sqlDB != nil {
		errs = append(errs, s.sqlDB.Close())
	}
	for _, st := range []*sql.Stmt{s.dvStmt, s.seqStm} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.pin != nil {
		errs = append(errs, s.pin.Close())
	}
	if s.read != nil {
		errs = append(errs, s.read.Close())
	}
	errs = append(errs, s.write.Close())
	return errors.Join(errs...)
}

// dialect is SQLite's sqlstore.Dialect.
type dialect struct{}

// Rebind keeps the ? placeholders, which are SQLite's own.
func (dialect) Rebind(q string) string { return q }

// Time is the fixed-width UTC text form, whose text order is time order.
func (dialect) Time(t time.Time) any { return t.UTC().Format(sqlstore.TimeLayout) }

// Date is YYYY-MM-DD text, whose text order is date order.
func (dialect) Date(d keygate.Date) any { return d.String() }

// Classify reads the extended result code; the driver's message text is not a contract.
func (dialect) Classify(err error) error {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: referenced row: %w", store.ErrNotFound, err)
	}
	return err
}

// Retryable is false: with BEGIN IMMEDIATE and one writer connection, SQLite transactions
// do not fail on each other; a busy file is already waited for by busy_timeout.
func (dialect) Retryable(error) bool { return false }

// MarkerMoved has nothing to add: other connections see the commit through
// PRAGMA data_version.
func (dialect) MarkerMoved(context.Context, *sql.Tx, int64) error { return nil }

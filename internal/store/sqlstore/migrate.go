package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered schema change, read from a file NNNN_name.up.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// ReadMigrations lists the NNNN_name.up.sql files at the root of fsys in version order.
// Two files with one version, or a name of another shape, are an error: a typo must not
// silently skip a schema change.
func ReadMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: read migrations: %w", err)
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		file := e.Name()
		base, ok := strings.CutSuffix(file, ".up.sql")
		num, name, ok2 := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || !ok2 || err != nil || v <= 0 || name == "" {
			return nil, fmt.Errorf("sqlstore: migration file %q is not NNNN_name.up.sql", file)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("sqlstore: migrations %q and %q share version %d", prev, file, v)
		}
		seen[v] = file
		body, err := fs.ReadFile(fsys, path.Clean(file))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: read migration %q: %w", file, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Migrate applies the migrations db has not recorded in schema_migrations, each in its own
// transaction together with its record, so a failure leaves the schema at the last
// complete version.
//
// It is safe against another process migrating the same database at the same time: lock,
// when not empty, is run first in every transaction and must serialize migrators
// (PostgreSQL: an advisory transaction lock); SQLite passes "" because its write
// transactions already begin with the file's write lock (BEGIN IMMEDIATE). Under that
// lock the version is checked again, so each migration is applied exactly once.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, ms []Migration, lock string) error {
	const ddl = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY,
		name TEXT NOT NULL
	)`
	applied := d.Rebind("SELECT count(*) FROM schema_migrations WHERE version = ?")
	record := d.Rebind("INSERT INTO schema_migrations (version, name) VALUES (?, ?)")
	// The usual Open finds everything applied; learn that without taking the write lock,
	// so a CLI invocation beside a busy server does not queue behind its writers. A
	// failure here (no table yet) just means every migration goes through the locked path.
	done := map[int]bool{}
	if rows, err := db.QueryContext(ctx, "SELECT version FROM schema_migrations"); err == nil {
		for rows.Next() {
			var v int
			if rows.Scan(&v) == nil {
				done[v] = true
			}
		}
		_ = rows.Close()
	}
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		err := func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback() }() // no-op after Commit
			if lock != "" {
				if _, err := tx.ExecContext(ctx, lock); err != nil {
					return fmt.Errorf("lock: %w", err)
				}
			}
			if _, err := tx.ExecContext(ctx, ddl); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, applied, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, record, m.Version, m.Name); err != nil {
				return err
			}
			return tx.Commit()
		}()
		if err != nil {
			return fmt.Errorf("sqlstore: migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

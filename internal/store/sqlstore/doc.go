// Package sqlstore is the one implementation of store.Store's queries over database/sql,
// shared by the sqlite and postgres backends.
//
// Why one set of queries: the two backends must pass the same contract suite
// (storetest), and the cheapest way to keep them agreeing is to let them run the same
// hand-written SQL. The SQL here is the common subset of SQLite (3.35+) and PostgreSQL
// (12+): WITH RECURSIVE, RETURNING, ON CONFLICT upserts, window functions, explicit
// CASE ordering for NULLs. What genuinely differs is small and lives behind Dialect:
//
//   - placeholders: queries are written with ?, which PostgreSQL's Dialect rebinds to
//     $1, $2, ...;
//   - argument encoding of timestamps and dates (SQLite keeps fixed-width UTC TEXT,
//     PostgreSQL timestamptz and date); decoding accepts either form, so scans are shared;
//   - classification of driver errors into store.ErrConflict and store.ErrNotFound, by
//     code (SQLite extended result codes, PostgreSQL SQLSTATE), never by message text;
//   - which errors make a transaction worth re-running (PostgreSQL serialization failures
//     and deadlocks);
//   - what else happens when a transaction moves the Marker (PostgreSQL notifies).
//
// Schema and migrations stay per backend (numbered, embedded files in each backend's
// migrations directory), because DDL is where the dialects really part: identity columns,
// BLOB vs bytea, timestamptz. Migrate here only applies them, one transaction each.
//
// Transactions: every write runs in DB.InTx on the backend's write pool. A transaction
// whose writes can take access away (UpdateUser, DeleteUser, an effective RevokeToken or
// RevokeDescendants, PutSettings, updating or deleting a namespace or project, changing
// or removing a membership, an effective FinishJob, PutJobTokenScope, removing a
// job-token allowlist entry) increments the single revision row just before commit, once
// per transaction; taking that row lock last keeps lock order "data rows, then revision"
// for every writer, which avoids deadlocks between concurrent writers on PostgreSQL.
package sqlstore

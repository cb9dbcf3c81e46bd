// Package sqlite is Keygate's embedded store: one database file in the data dir, opened
// with the pure-Go modernc.org/sqlite driver, so the binary needs no C toolchain.
//
// Connections: one writer connection (a pool of size one) runs every transaction, and
// begins them with BEGIN IMMEDIATE: a transaction takes the file's write lock up front
// instead of upgrading a read lock later, which is what makes two processes (the server
// and `keygate admin`) queue on busy_timeout rather than fail with SQLITE_BUSY
// deadlocks. Reads outside transactions go to a separate pool of query_only connections,
// which WAL lets run beside the writer. Because the writer is one connection, InTx must
// not be called from inside an InTx callback: the inner call would wait for the
// connection the outer one holds until its context ends.
//
// Marker: one more reader connection stays pinned. SQLite's PRAGMA data_version on a
// connection changes whenever any other connection, in this process or another, has
// committed to the file; Marker asks that (a few microseconds, no table read) and reads
// the revision row only when it changed.
//
// Migrations are the numbered files in migrations/, embedded, applied by sqlstore.Migrate
// through the writer so that concurrent opens serialize on the write lock.
package sqlite

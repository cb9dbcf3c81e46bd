// Package postgres is Keygate's PostgreSQL store, for clusters of Keygate nodes sharing
// one database. It runs sqlstore's queries over a pgx pool (through pgx's database/sql
// adapter) and adds what only PostgreSQL has: migrations under an advisory lock, bounded
// re-runs of transactions that failed on serialization or deadlock, and a Marker fed by
// LISTEN/NOTIFY.
//
// The database URL may carry a search_path (postgres://…/db?search_path=keygate): every
// connection, the listener's included, then works in that schema, and notifications are
// tagged with it, so several Keygate instances (or tests) can share one database.
//
// Marker staleness: a transaction that moves the revision queues
// pg_notify('keygate_revision', '<schema>:<seq>'), which PostgreSQL delivers only after
// the commit. A background goroutine holds one dedicated connection listening on the
// channel and keeps the highest revision it saw; Marker returns it. Another node's write
// therefore reaches this node's Marker within the notification's delivery latency
// (typically well under a millisecond on one network); this node's own writes count at
// once, on commit. The listener re-reads the revision every listenHeartbeat, which also
// proves the connection alive; when it is down or not yet connected, Marker reads the
// revision row directly. So the bound is the delivery latency while the connection is
// healthy, and listenHeartbeat plus heartbeatTimeout if it silently dies.
package postgres

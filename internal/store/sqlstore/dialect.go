package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate"
)

// Dialect is what differs between the SQL backends that share these queries.
type Dialect interface {
	// Rebind rewrites the ? placeholders of query into the driver's form.
	Rebind(query string) string
	// Time encodes a timestamp argument. t is already UTC and truncated to microseconds.
	Time(t time.Time) any
	// Date encodes a calendar-date argument.
	Date(d keygate.Date) any
	// Classify maps a driver error to the store's kinds by its code, wrapping so that both
	// errors.Is(err, store.ErrConflict) and errors.As(err, &driverError) hold. Errors of
	// no known kind come back unchanged.
	Classify(err error) error
	// Retryable reports whether err means the whole transaction may succeed if re-run
	// (serialization failure, deadlock).
	Retryable(err error) bool
	// MarkerMoved runs inside the transaction that moved the revision to seq, just
	// before it commits (PostgreSQL queues a notification there).
	MarkerMoved(ctx context.Context, tx *sql.Tx, seq int64) error
}

// RebindDollar rewrites ? placeholders to $1, $2, ... (PostgreSQL's form). A ? inside a
// single-quoted literal, a double-quoted identifier or a -- comment is left alone.
func RebindDollar(query string) string {
	if strings.IndexByte(query, '?') < 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	var quote byte // the quote we are inside, or 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				end = len(query) - i
			}
			b.WriteString(query[i : i+end])
			i += end - 1
			continue
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// TimeLayout is the fixed-width UTC text form of timestamps for backends without a native
// timestamp type (SQLite). Fixed width makes text order equal time order, so comparisons
// and ORDER BY work on the stored text.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Normalize is how every timestamp is written: UTC, truncated to the microsecond both
// backends keep, so a value read back is Equal to the one written.
func Normalize(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

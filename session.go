package keygate

import "time"

// Session is a signed-in browser session of the web UI. The store keeps only the digest
// of the session ID the cookie carries, so a database dump signs no one in.
type Session struct {
	ID        int64
	Digest    []byte
	UserID    int64
	CreatedAt time.Time
	ExpiresAt time.Time
	IP        string
	UserAgent string
}

// Active reports whether the session has not expired at now.
func (s Session) Active(now time.Time) bool { return now.Before(s.ExpiresAt) }

package sqlstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/keygate/keygate"
)

// The scanners below accept what either driver hands back (time.Time from pgx, TEXT from
// SQLite), so the row-to-domain code is shared.

// timeCol scans a NOT NULL timestamp.
type timeCol struct{ p *time.Time }

// Scan implements sql.Scanner.
func (c timeCol) Scan(src any) error {
	t, ok, err := parseTime(src)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("sqlstore: NULL in a NOT NULL timestamp column")
	}
	*c.p = t
	return nil
}

// nullTimeCol scans a nullable timestamp into a *time.Time (nil for NULL).
type nullTimeCol struct{ p **time.Time }

// Scan implements sql.Scanner.
func (c nullTimeCol) Scan(src any) error {
	t, ok, err := parseTime(src)
	if err != nil {
		return err
	}
	if !ok {
		*c.p = nil
		return nil
	}
	*c.p = &t
	return nil
}

func parseTime(src any) (time.Time, bool, error) {
	switch v := src.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return v.UTC(), true, nil
	case string:
		return parseTimeText(v)
	case []byte:
		return parseTimeText(string(v))
	}
	return time.Time{}, false, fmt.Errorf("sqlstore: cannot scan %T into a timestamp", src)
}

func parseTimeText(s string) (time.Time, bool, error) {
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		// Tolerate hand-edited rows in any RFC 3339 form.
		if t2, err2 := time.Parse(time.RFC3339Nano, s); err2 == nil {
			return t2.UTC(), true, nil
		}
		return time.Time{}, false, fmt.Errorf("sqlstore: bad timestamp %q: %w", s, err)
	}
	return t.UTC(), true, nil
}

// nullDateCol scans a nullable date into a *keygate.Date (nil for NULL).
type nullDateCol struct{ p **keygate.Date }

// Scan implements sql.Scanner.
func (c nullDateCol) Scan(src any) error {
	var d keygate.Date
	switch v := src.(type) {
	case nil:
		*c.p = nil
		return nil
	case time.Time:
		// The calendar date in the value's own location: drivers return midnight of the
		// date, in UTC or local time; converting to UTC first could move it a day.
		y, m, day := v.Date()
		d = keygate.Date{Year: y, Month: m, Day: day}
	case string:
		var err error
		if d, err = keygate.ParseDate(v); err != nil {
			return err
		}
	case []byte:
		var err error
		if d, err = keygate.ParseDate(string(v)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a date", src)
	}
	*c.p = &d
	return nil
}

// scopesCol scans the comma-joined scopes column.
type scopesCol struct{ p *keygate.Scopes }

// Scan implements sql.Scanner.
func (c scopesCol) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into scopes", src)
	}
	if s == string(keygate.ScopeGranular) {
		*c.p = nil // a fine-grained token: its granular_scopes column says what it may do
		return nil
	}
	ss, err := keygate.ParseScopes(s)
	if err != nil {
		return fmt.Errorf("sqlstore: stored scopes: %w", err)
	}
	*c.p = ss
	return nil
}

// granularScopeRow is the stored JSON of one fine-grained scope. Its own type keeps the
// storage form apart from the domain struct (DESIGN §4.9).
type granularScopeRow struct {
	Access      string   `json:"access"`
	Permissions []string `json:"permissions"`
	ProjectID   int64    `json:"project_id,omitempty"`
	GroupID     int64    `json:"group_id,omitempty"`
	NamespaceID int64    `json:"namespace_id,omitempty"`
}

// granularText is the stored form of a token's granular scopes.
func granularText(scopes []keygate.GranularScope) (string, error) {
	rows := make([]granularScopeRow, len(scopes))
	for i, s := range scopes {
		rows[i] = granularScopeRow{Access: string(s.Access), Permissions: s.Permissions,
			ProjectID: s.ProjectID, GroupID: s.GroupID, NamespaceID: s.NamespaceID}
	}
	b, err := json.Marshal(rows)
	return string(b), err
}

// granularCol scans the granular_scopes column (” for legacy tokens).
type granularCol struct{ p *[]keygate.GranularScope }

// Scan implements sql.Scanner.
func (c granularCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into granular scopes", src)
	}
	if len(b) == 0 {
		*c.p = nil
		return nil
	}
	var rows []granularScopeRow
	if err := json.Unmarshal(b, &rows); err != nil {
		return fmt.Errorf("sqlstore: stored granular scopes: %w", err)
	}
	out := make([]keygate.GranularScope, len(rows))
	for i, r := range rows {
		a, err := keygate.ParseGranularAccess(r.Access)
		if err != nil {
			return fmt.Errorf("sqlstore: stored granular scopes: %w", err)
		}
		out[i] = keygate.GranularScope{Access: a, Permissions: r.Permissions,
			ProjectID: r.ProjectID, GroupID: r.GroupID, NamespaceID: r.NamespaceID}
	}
	*c.p = out
	return nil
}

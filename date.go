package keygate

import (
	"fmt"
	"time"
)

// Date is a calendar date without time or zone, the type of a token's expires_at.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateLayout is the wire and storage form of a Date.
const DateLayout = "2006-01-02"

// ParseDate reads YYYY-MM-DD. It rejects impossible dates such as 2025-02-30.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		return Date{}, fmt.Errorf("parse date %q: %w", s, err)
	}
	return DateOf(t), nil
}

// DateOf returns the UTC calendar date of t.
func DateOf(t time.Time) Date {
	y, m, d := t.UTC().Date()
	return Date{y, m, d}
}

// Start is 00:00:00 UTC of the date: the instant a token with this expiry stops working.
func (d Date) Start() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// AddDays returns the date n days later (earlier for negative n).
func (d Date) AddDays(n int) Date { return DateOf(d.Start().AddDate(0, 0, n)) }

// Before reports whether d is earlier than o.
func (d Date) Before(o Date) bool { return d.Start().Before(o.Start()) }

// After reports whether d is later than o.
func (d Date) After(o Date) bool { return d.Start().After(o.Start()) }

// String formats the date as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

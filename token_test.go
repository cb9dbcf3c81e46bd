package keygate_test

import (
	"testing"
	"time"

	"github.com/keygate/keygate"
)

func tokenExpiryDate(y int, m time.Month, d int) *keygate.Date {
	return &keygate.Date{Year: y, Month: m, Day: d}
}

func TestTokenExpiredActive(t *testing.T) {
	t.Parallel()
	newYear := tokenExpiryDate(2024, time.January, 1)
	cases := []struct {
		name    string
		tok     keygate.Token
		now     time.Time
		expired bool
		active  bool
	}{
		{"last second before expiry", keygate.Token{ExpiresAt: newYear}, time.Date(2023, 12, 31, 23, 59, 59, 0, time.UTC), false, true},
		{"last nanosecond before expiry", keygate.Token{ExpiresAt: newYear}, time.Date(2023, 12, 31, 23, 59, 59, 999999999, time.UTC), false, true},
		{"exactly at expiry", keygate.Token{ExpiresAt: newYear}, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), true, false},
		{"during the expiry day", keygate.Token{ExpiresAt: newYear}, time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC), true, false},
		{"long after expiry", keygate.Token{ExpiresAt: newYear}, time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC), true, false},
		{"long before expiry", keygate.Token{ExpiresAt: newYear}, time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC), false, true},
		// The boundary is midnight UTC, whatever zone now is expressed in.
		{"expiry instant in UTC+2", keygate.Token{ExpiresAt: newYear}, time.Date(2024, 1, 1, 2, 0, 0, 0, time.FixedZone("UTC+2", 2*3600)), true, false},
		{"before expiry in UTC+2 local new year", keygate.Token{ExpiresAt: newYear}, time.Date(2024, 1, 1, 1, 59, 59, 0, time.FixedZone("UTC+2", 2*3600)), false, true},
		{"before expiry in UTC-5", keygate.Token{ExpiresAt: newYear}, time.Date(2023, 12, 31, 18, 59, 59, 0, time.FixedZone("UTC-5", -5*3600)), false, true},
		{"expiry instant in UTC-5", keygate.Token{ExpiresAt: newYear}, time.Date(2023, 12, 31, 19, 0, 0, 0, time.FixedZone("UTC-5", -5*3600)), true, false},
		{"nil expiry never expires", keygate.Token{}, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), false, true},
		{"nil expiry at zero time", keygate.Token{}, time.Time{}, false, true},
		{"revoked is not active", keygate.Token{Revoked: true}, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), false, false},
		{"revoked before expiry", keygate.Token{Revoked: true, ExpiresAt: newYear}, time.Date(2023, 12, 31, 0, 0, 0, 0, time.UTC), false, false},
		{"revoked and expired", keygate.Token{Revoked: true, ExpiresAt: newYear}, time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tok.Expired(tc.now); got != tc.expired {
				t.Errorf("Token{ExpiresAt: %v, Revoked: %v}.Expired(%v) = %v, want %v", tc.tok.ExpiresAt, tc.tok.Revoked, tc.now, got, tc.expired)
			}
			if got := tc.tok.Active(tc.now); got != tc.active {
				t.Errorf("Token{ExpiresAt: %v, Revoked: %v}.Active(%v) = %v, want %v", tc.tok.ExpiresAt, tc.tok.Revoked, tc.now, got, tc.active)
			}
		})
	}
}

func TestTokenTypeFor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		tok   keygate.Token
		owner keygate.User
		want  keygate.TokenType
	}{
		{"human", keygate.Token{}, keygate.User{Type: keygate.UserHuman}, keygate.TokenPersonal},
		{"untyped owner", keygate.Token{}, keygate.User{}, keygate.TokenPersonal},
		{"admin human", keygate.Token{}, keygate.User{Type: keygate.UserHuman, Admin: true}, keygate.TokenPersonal},
		{"impersonation", keygate.Token{Impersonation: true}, keygate.User{Type: keygate.UserHuman}, keygate.TokenImpersonation},
		{"project bot", keygate.Token{}, keygate.User{Type: keygate.UserProjectBot}, keygate.TokenProject},
		{"service account", keygate.Token{}, keygate.User{Type: keygate.UserServiceAccount}, keygate.TokenServiceAccount},
		{"impersonation wins over bot", keygate.Token{Impersonation: true}, keygate.User{Type: keygate.UserServiceAccount}, keygate.TokenImpersonation},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tok.TypeFor(tc.owner); got != tc.want {
				t.Errorf("Token{Impersonation: %v}.TypeFor(User{Type: %q}) = %q, want %q", tc.tok.Impersonation, tc.owner.Type, got, tc.want)
			}
		})
	}
}

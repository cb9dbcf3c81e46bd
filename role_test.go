package keygate_test

import (
	"testing"

	"github.com/keygate/keygate"
)

func TestAccessLevel(t *testing.T) {
	t.Parallel()
	cases := []struct {
		level keygate.AccessLevel
		str   string
		valid bool
	}{
		{keygate.NoAccess, "No access", true},
		{keygate.MinimalAccess, "Minimal access", true},
		{keygate.Guest, "Guest", true},
		{keygate.Planner, "Planner", true},
		{keygate.Reporter, "Reporter", true},
		{keygate.Developer, "Developer", true},
		{keygate.Maintainer, "Maintainer", true},
		{keygate.Owner, "Owner", true},
		{-1, "AccessLevel(-1)", false},
		{1, "AccessLevel(1)", false},
		{25, "AccessLevel(25)", false},
		{60, "AccessLevel(60)", false},
	}
	for _, tc := range cases {
		t.Run(tc.str, func(t *testing.T) {
			if got := tc.level.String(); got != tc.str {
				t.Errorf("AccessLevel(%d).String() = %q, want %q", int(tc.level), got, tc.str)
			}
			if got := tc.level.Valid(); got != tc.valid {
				t.Errorf("AccessLevel(%d).Valid() = %v, want %v", int(tc.level), got, tc.valid)
			}
		})
	}
}

func TestAccessLevelValues(t *testing.T) {
	t.Parallel()
	// GitLab's numeric values are part of the wire format (spec §3.1).
	cases := []struct {
		level keygate.AccessLevel
		want  int
	}{
		{keygate.NoAccess, 0}, {keygate.MinimalAccess, 5}, {keygate.Guest, 10}, {keygate.Planner, 15},
		{keygate.Reporter, 20}, {keygate.Developer, 30}, {keygate.Maintainer, 40}, {keygate.Owner, 50},
	}
	for _, tc := range cases {
		t.Run(tc.level.String(), func(t *testing.T) {
			if got := int(tc.level); got != tc.want {
				t.Errorf("int(%v) = %d, want %d", tc.level, got, tc.want)
			}
		})
	}
}

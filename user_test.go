package keygate_test

import (
	"testing"

	"github.com/keygate/keygate"
)

func TestUserAPIBlockReason(t *testing.T) {
	t.Parallel()
	const base = "https://gitlab.example.com"
	cases := []struct {
		state keygate.UserState
		want  string
	}{
		{keygate.UserActive, ""},
		{keygate.UserBlocked, "Your account has been blocked."},
		{keygate.UserDeactivated, "Your account has been deactivated by your administrator. Please log back in from a web browser to reactivate your account at https://gitlab.example.com"},
	}
	for _, tc := range cases {
		t.Run(string(tc.state), func(t *testing.T) {
			u := keygate.User{State: tc.state}
			if got := u.APIBlockReason(base); got != tc.want {
				t.Errorf("User{State: %q}.APIBlockReason(%q) = %q, want %q", tc.state, base, got, tc.want)
			}
		})
	}
}

func TestUserBot(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ  keygate.UserType
		want bool
	}{
		{keygate.UserHuman, false},
		{"", false},
		{keygate.UserProjectBot, true},
		{keygate.UserServiceAccount, true},
	}
	for _, tc := range cases {
		t.Run(string(tc.typ), func(t *testing.T) {
			if got := (keygate.User{Type: tc.typ}).Bot(); got != tc.want {
				t.Errorf("User{Type: %q}.Bot() = %v, want %v", tc.typ, got, tc.want)
			}
		})
	}
}

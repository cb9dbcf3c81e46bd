package remote

import (
	"testing"
	"time"
)

func TestAPIBase(t *testing.T) {
	cases := []struct{ in, want string }{
		{"https://gitlab.example.com", "https://gitlab.example.com/api/v4"},
		{"https://gitlab.example.com/", "https://gitlab.example.com/api/v4"},
		{"https://gitlab.example.com/api/v4/", "https://gitlab.example.com/api/v4"},
		{"http://127.0.0.1:8080/gitlab?x=1#f", "http://127.0.0.1:8080/gitlab/api/v4"},
		{"gitlab.example.com", ""},
		{"ftp://host", ""},
		{"https://", ""},
	}
	for _, c := range cases {
		got, err := APIBase(c.in)
		if (err != nil) != (c.want == "") || got != c.want {
			t.Errorf("APIBase(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func FuzzAPIBase(f *testing.F) {
	for _, s := range []string{"https://gitlab.example.com", "http://h/api/v4/", "gitlab", "https://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, err := APIBase(s); err == nil {
			again, err := APIBase(got)
			if err != nil || again != got {
				t.Fatalf("APIBase(%q) = %q, not a fixed point (%q, %v)", s, got, again, err)
			}
		}
	})
}

func TestBotSource(t *testing.T) {
	cases := []struct {
		u        User
		kind     string
		id       int64
		ok       bool
		typ, rot string
	}{
		{User{Username: "project_12_bot_ab12", Bot: true}, "project", 12, true, "project", "/projects/12/access_tokens/self/rotate"},
		{User{Username: "group_3_bot_ff", Bot: true}, "group", 3, true, "group", "/groups/3/access_tokens/self/rotate"},
		{User{Username: "project_12_bot_ab12"}, "", 0, false, "personal", "/personal_access_tokens/self/rotate"},
		{User{Username: "project_x_bot_1", Bot: true}, "", 0, false, "personal", "/personal_access_tokens/self/rotate"},
		{User{Username: "service_account_00ff", Bot: false}, "", 0, false, "service_account", "/personal_access_tokens/self/rotate"},
		{User{Username: "alice"}, "", 0, false, "personal", "/personal_access_tokens/self/rotate"},
	}
	for _, c := range cases {
		kind, id, ok := BotSource(c.u)
		if kind != c.kind || id != c.id || ok != c.ok || TokenType(c.u) != c.typ || SelfRotatePath(c.u) != c.rot {
			t.Errorf("BotSource(%+v) = %s %d %v type %s path %s", c.u, kind, id, ok, TokenType(c.u), SelfRotatePath(c.u))
		}
	}
}

func FuzzBotSource(f *testing.F) {
	for _, s := range []string{"project_12_bot_ab", "group_3_bot_", "project__bot", "alice"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, id, ok := BotSource(User{Username: s, Bot: true}); ok && id <= 0 {
			t.Fatalf("BotSource(%q) = id %d", s, id)
		}
	})
}

func TestDaysLeft(t *testing.T) {
	now := time.Date(2026, 6, 15, 23, 59, 0, 0, time.UTC)
	str := func(s string) *string { return &s }
	cases := []struct {
		exp  *string
		want int
		ok   bool
	}{
		{str("2026-06-16"), 1, true},
		{str("2026-06-15"), 0, true},
		{str("2026-06-01"), -14, true},
		{str("2026-07-15"), 30, true},
		{nil, 0, false},
		{str(""), 0, false},
		{str("tomorrow"), 0, false},
	}
	for _, c := range cases {
		got, ok := DaysLeft(c.exp, now)
		if got != c.want || ok != c.ok {
			t.Errorf("DaysLeft(%v) = %d, %v; want %d, %v", c.exp, got, ok, c.want, c.ok)
		}
	}
}

func TestErrorOf(t *testing.T) {
	cases := []struct {
		status           int
		body             string
		expired, revoked bool
		scope            bool
		msg              string
	}{
		{401, `{"error":"invalid_token","error_description":"Token is expired. You can either do re-authorization or token refresh."}`, true, false, false, ""},
		{401, `{"error":"invalid_token","error_description":"Token was revoked. You have to re-authorize from the user."}`, false, true, false, ""},
		{403, `{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"read_user"}`, false, false, true, ""},
		{404, `{"message":"404 Project Not Found"}`, false, false, false, "404 Project Not Found"},
		{400, `{"message":{"name":["is missing"]}}`, false, false, false, `{"name":["is missing"]}`},
		{502, `<html>`, false, false, false, "Bad Gateway"},
	}
	for _, c := range cases {
		e := errorOf("GET", "/x", c.status, []byte(c.body))
		if e.Expired() != c.expired || e.Revoked() != c.revoked || e.InsufficientScope() != c.scope || (c.msg != "" && e.Message != c.msg) {
			t.Errorf("errorOf(%d, %s) = %+v", c.status, c.body, e)
		}
	}
}

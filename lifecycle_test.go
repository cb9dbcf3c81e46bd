package keygate

import "testing"

func TestNoticeThreshold(t *testing.T) {
	today, _ := ParseDate("2026-06-15")
	cases := []struct {
		days   int
		want   int
		wantOK bool
	}{
		{-1, 0, false}, {0, NoticeExpired, true}, {1, NoticeSevenDays, true}, {7, NoticeSevenDays, true},
		{8, NoticeThirtyDays, true}, {30, NoticeThirtyDays, true}, {31, NoticeSixtyDays, true},
		{60, NoticeSixtyDays, true}, {61, 0, false}, {365, 0, false},
	}
	for _, c := range cases {
		got, ok := NoticeThreshold(today.AddDays(c.days), today)
		if got != c.want || ok != c.wantOK {
			t.Errorf("NoticeThreshold(today+%d) = %d, %v, want %d, %v", c.days, got, ok, c.want, c.wantOK)
		}
	}
}

func TestParseAuditEntity(t *testing.T) {
	for _, s := range []string{"User", "Group", "Project", "Gitlab::Audit::InstanceScope"} {
		if e, ok := ParseAuditEntity(s); !ok || string(e) != s {
			t.Errorf("ParseAuditEntity(%q) = %q, %v", s, e, ok)
		}
	}
	for _, s := range []string{"", "user", "Namespace", "User "} {
		if _, ok := ParseAuditEntity(s); ok {
			t.Errorf("ParseAuditEntity(%q) accepted", s)
		}
	}
}

func FuzzParseAuditEntity(f *testing.F) {
	for _, s := range []string{"User", "Group", "Project", "Gitlab::Audit::InstanceScope", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if e, ok := ParseAuditEntity(s); ok && string(e) != s {
			t.Errorf("ParseAuditEntity(%q) = %q", s, e)
		}
	})
}

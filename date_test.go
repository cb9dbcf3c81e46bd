package keygate_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

var parseDateCases = []struct {
	in      string
	want    keygate.Date
	wantErr bool
}{
	{in: "2024-01-01", want: keygate.Date{Year: 2024, Month: time.January, Day: 1}},
	{in: "2027-01-31", want: keygate.Date{Year: 2027, Month: time.January, Day: 31}},
	{in: "2024-12-31", want: keygate.Date{Year: 2024, Month: time.December, Day: 31}},
	{in: "2024-02-29", want: keygate.Date{Year: 2024, Month: time.February, Day: 29}},
	{in: "2000-02-29", want: keygate.Date{Year: 2000, Month: time.February, Day: 29}},
	{in: "0001-01-01", want: keygate.Date{Year: 1, Month: time.January, Day: 1}},
	{in: "9999-12-31", want: keygate.Date{Year: 9999, Month: time.December, Day: 31}},
	{in: "2025-02-29", wantErr: true},
	{in: "1900-02-29", wantErr: true},
	{in: "2025-02-30", wantErr: true},
	{in: "2025-04-31", wantErr: true},
	{in: "2025-13-01", wantErr: true},
	{in: "2025-00-10", wantErr: true},
	{in: "2025-01-00", wantErr: true},
	{in: "2025-01-32", wantErr: true},
	{in: "", wantErr: true},
	{in: "soon", wantErr: true},
	{in: "2025-1-01", wantErr: true},
	{in: "2025-01-1", wantErr: true},
	{in: "25-01-01", wantErr: true},
	{in: "2025/01/01", wantErr: true},
	{in: "20250101", wantErr: true},
	{in: " 2025-01-01", wantErr: true},
	{in: "2025-01-01 ", wantErr: true},
	{in: "x2025-01-01", wantErr: true},
	{in: "2025-01-01x", wantErr: true},
	{in: "2025-01-01T00:00:00Z", wantErr: true},
	{in: "2025-01-01\n", wantErr: true},
	{in: "+025-01-01", wantErr: true},
	{in: "-025-01-01", wantErr: true},
}

func TestParseDate(t *testing.T) {
	t.Parallel()
	for _, tc := range parseDateCases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := keygate.ParseDate(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Errorf("ParseDate(%q) = %v, nil, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseDate(%q) = %#v, %v, want %#v, nil", tc.in, got, err, tc.want)
			}
			if s := got.String(); s != tc.in {
				t.Errorf("ParseDate(%q).String() = %q, want %q", tc.in, s, tc.in)
			}
		})
	}
}

func TestDateOf(t *testing.T) {
	t.Parallel()
	plus2 := time.FixedZone("UTC+2", 2*3600)
	minus5 := time.FixedZone("UTC-5", -5*3600)
	plus14 := time.FixedZone("UTC+14", 14*3600)
	cases := []struct {
		name string
		t    time.Time
		want keygate.Date
	}{
		{"utc midnight", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), keygate.Date{Year: 2024, Month: time.January, Day: 1}},
		{"utc last nanosecond", time.Date(2023, 12, 31, 23, 59, 59, 999999999, time.UTC), keygate.Date{Year: 2023, Month: time.December, Day: 31}},
		{"east just after local midnight is the previous UTC day", time.Date(2024, 1, 1, 0, 30, 0, 0, plus2), keygate.Date{Year: 2023, Month: time.December, Day: 31}},
		{"east after 02:00 local is the same day", time.Date(2024, 1, 1, 2, 0, 0, 0, plus2), keygate.Date{Year: 2024, Month: time.January, Day: 1}},
		{"west just before local midnight is the next UTC day", time.Date(2024, 2, 28, 23, 30, 0, 0, minus5), keygate.Date{Year: 2024, Month: time.February, Day: 29}},
		{"west leap day evening is March 1 UTC", time.Date(2024, 2, 29, 20, 0, 0, 0, minus5), keygate.Date{Year: 2024, Month: time.March, Day: 1}},
		{"west before 19:00 local is the same day", time.Date(2024, 2, 29, 18, 59, 59, 0, minus5), keygate.Date{Year: 2024, Month: time.February, Day: 29}},
		{"far east new year", time.Date(2025, 1, 1, 13, 59, 0, 0, plus14), keygate.Date{Year: 2024, Month: time.December, Day: 31}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := keygate.DateOf(tc.t); got != tc.want {
				t.Errorf("DateOf(%v) = %v, want %v", tc.t, got, tc.want)
			}
		})
	}
}

func TestDateStart(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"2024-01-01", "2024-02-29", "2023-12-31", "0001-01-01"} {
		t.Run(s, func(t *testing.T) {
			d, err := keygate.ParseDate(s)
			if err != nil {
				t.Fatalf("ParseDate(%q) error = %v", s, err)
			}
			got := d.Start()
			if got.Location() != time.UTC {
				t.Errorf("%v.Start().Location() = %v, want UTC", d, got.Location())
			}
			if h, m, sec := got.Clock(); h != 0 || m != 0 || sec != 0 || got.Nanosecond() != 0 {
				t.Errorf("%v.Start() = %v, want 00:00:00 UTC", d, got)
			}
			if back := keygate.DateOf(got); back != d {
				t.Errorf("DateOf(%v.Start()) = %v, want %v", d, back, d)
			}
			if prev := keygate.DateOf(got.Add(-time.Nanosecond)); prev != d.AddDays(-1) {
				t.Errorf("DateOf(%v.Start() - 1ns) = %v, want %v", d, prev, d.AddDays(-1))
			}
		})
	}
}

func TestDateAddDays(t *testing.T) {
	t.Parallel()
	cases := []struct {
		from string
		n    int
		want string
	}{
		{"2024-01-01", 0, "2024-01-01"},
		{"2024-01-31", 1, "2024-02-01"},
		{"2024-02-28", 1, "2024-02-29"},
		{"2024-02-29", 1, "2024-03-01"},
		{"2025-02-28", 1, "2025-03-01"},
		{"2024-12-31", 1, "2025-01-01"},
		{"2025-01-01", -1, "2024-12-31"},
		{"2024-03-01", -1, "2024-02-29"},
		{"2024-01-01", 366, "2025-01-01"},
		{"2025-01-01", 365, "2026-01-01"},
		{"2024-06-15", 30, "2024-07-15"},
		{"2024-06-15", -30, "2024-05-16"},
		{"2024-01-01", 7, "2024-01-08"},
	}
	for _, tc := range cases {
		t.Run(tc.from, func(t *testing.T) {
			d, err := keygate.ParseDate(tc.from)
			if err != nil {
				t.Fatalf("ParseDate(%q) error = %v", tc.from, err)
			}
			if got := d.AddDays(tc.n).String(); got != tc.want {
				t.Errorf("%v.AddDays(%d) = %s, want %s", d, tc.n, got, tc.want)
			}
		})
	}
}

func TestDateBeforeAfter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		a, b          string
		before, after bool
	}{
		{"2024-01-01", "2024-01-01", false, false},
		{"2024-01-01", "2024-01-02", true, false},
		{"2024-01-02", "2024-01-01", false, true},
		{"2023-12-31", "2024-01-01", true, false},
		{"2024-02-01", "2024-01-31", false, true},
		{"2025-01-01", "2024-12-31", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.a+"_"+tc.b, func(t *testing.T) {
			a, errA := keygate.ParseDate(tc.a)
			b, errB := keygate.ParseDate(tc.b)
			if errA != nil || errB != nil {
				t.Fatalf("ParseDate errors %v, %v", errA, errB)
			}
			if got := a.Before(b); got != tc.before {
				t.Errorf("%v.Before(%v) = %v, want %v", a, b, got, tc.before)
			}
			if got := a.After(b); got != tc.after {
				t.Errorf("%v.After(%v) = %v, want %v", a, b, got, tc.after)
			}
		})
	}
}

func TestDateIsZero(t *testing.T) {
	t.Parallel()
	cases := []struct {
		d    keygate.Date
		want bool
	}{
		{keygate.Date{}, true},
		{keygate.Date{Year: 2024, Month: time.January, Day: 1}, false},
		{keygate.Date{Year: 0, Month: time.January, Day: 1}, false},
	}
	for _, tc := range cases {
		t.Run(tc.d.String(), func(t *testing.T) {
			if got := tc.d.IsZero(); got != tc.want {
				t.Errorf("%#v.IsZero() = %v, want %v", tc.d, got, tc.want)
			}
		})
	}
}

var canonicalDate = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

func FuzzParseDate(f *testing.F) {
	for _, tc := range parseDateCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := keygate.ParseDate(s)
		if err != nil {
			return
		}
		if d.Month < time.January || d.Month > time.December || d.Day < 1 || d.Day > 31 {
			t.Fatalf("ParseDate(%q) = %#v, want a real calendar date", s, d)
		}
		if canonicalDate.MatchString(s) && d.String() != s {
			t.Fatalf("ParseDate(%q).String() = %q, want %q", s, d.String(), s)
		}
		again, err := keygate.ParseDate(d.String())
		if err != nil || again != d {
			t.Fatalf("ParseDate(%q) = %#v, %v, want %#v (from ParseDate(%q))", d.String(), again, err, d, s)
		}
		if got := keygate.DateOf(d.Start()); got != d {
			t.Fatalf("DateOf(%#v.Start()) = %#v, want %#v", d, got, d)
		}
		if next := d.AddDays(1); !next.After(d) || !d.Before(next) || next.AddDays(-1) != d {
			t.Fatalf("%v.AddDays(1) = %v, want the following day", d, next)
		}
	})
}

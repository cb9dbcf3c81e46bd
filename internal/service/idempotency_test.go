package service

import (
	"strings"
	"testing"
)

func TestValidIdempotencyKey(t *testing.T) {
	cases := []struct {
		key string
		ok  bool
	}{
		{"550e8400-e29b-41d4-a716-446655440000", true},
		{"k", true},
		{strings.Repeat("a", MaxIdempotencyKeyLen), true},
		{strings.Repeat("a", MaxIdempotencyKeyLen+1), false},
		{"", false},
		{"has space", false},
		{"tab\t", false},
		{"ünicode", false},
		{"\x00", false},
	}
	for _, c := range cases {
		if err := ValidIdempotencyKey(c.key); (err == nil) != c.ok {
			t.Errorf("ValidIdempotencyKey(%q) = %v, want ok %v", c.key, err, c.ok)
		}
	}
}

func FuzzValidIdempotencyKey(f *testing.F) {
	for _, s := range []string{"550e8400-e29b-41d4-a716-446655440000", "", "has space", "ünicode"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidIdempotencyKey(s) != nil {
			return
		}
		if len(s) == 0 || len(s) > MaxIdempotencyKeyLen || strings.ContainsAny(s, " \t\r\n") {
			t.Fatalf("ValidIdempotencyKey(%q) accepted", s)
		}
	})
}

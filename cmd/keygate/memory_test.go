package main

import (
	"math"
	"runtime/debug"
	"strings"
	"testing"
)

func TestParseMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{"auto", memoryLimitBase + 100_000*memoryPerCacheItem, ""},
		{"AUTO", memoryLimitBase + 100_000*memoryPerCacheItem, ""},
		{"off", math.MaxInt64, ""},
		{"512MiB", 512 << 20, ""},
		{" 2GiB ", 2 << 30, ""},
		{"1TiB", 1 << 40, ""},
		{"20000000", 20_000_000, ""},
		{"20000000B", 20_000_000, ""},
		{"16384KiB", 16 << 20, ""},
		{"8MiB", 0, "below 16MiB"},
		{"0", 0, "positive size"},
		{"-5MiB", 0, "positive size"},
		{"5MB", 0, "unit must be"},
		{"5 MiB", 0, "positive size"},
		{"MiB", 0, "positive size"},
		{"", 0, "positive size"},
		{"9999999TiB", 0, "too large"},
	} {
		got, err := parseMemoryLimit(tc.in, 100_000)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseMemoryLimit(%q) = %d, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseMemoryLimit(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseMemoryLimit(f *testing.F) {
	for _, s := range []string{"auto", "off", "512MiB", "1", "9223372036854775807", "1TiBB", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseMemoryLimit(s, 1000)
		if err == nil && n < 16<<20 {
			t.Fatalf("parseMemoryLimit(%q) = %d: accepted below the floor", s, n)
		}
	})
}

// TestMemoryApply: the flags set the runtime unless its own variables are set, and the
// previous settings come back.
func TestMemoryApply(t *testing.T) {
	prevLimit, prevGC := debug.SetMemoryLimit(-1), debug.SetGCPercent(100)
	debug.SetGCPercent(prevGC)
	m := memoryFlags{limit: "300MiB", gcPercent: 250}
	set, restore, err := m.apply(func(string) string { return "" }, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != 300<<20 || set.Limit != 300<<20 || set.GCPercent != 250 {
		t.Errorf("limit %d (settings %+v), want 300MiB and 250", got, set)
	}
	if set.String() != "limit 300MiB, gc percent 250" {
		t.Errorf("String() = %q", set.String())
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != prevLimit {
		t.Errorf("limit after restore %d, want %d", got, prevLimit)
	}
	env := map[string]string{"GOMEMLIMIT": "1GiB", "GOGC": "50"}
	set, restore, err = m.apply(func(k string) string { return env[k] }, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	if set.Limit != prevLimit || set.GCPercent != prevGC || len(set.FromEnv) != 2 {
		t.Errorf("with GOMEMLIMIT and GOGC set: %+v, want the runtime's own (%d, %d) untouched", set, prevLimit, prevGC)
	}
	for _, bad := range []memoryFlags{{limit: "auto", gcPercent: -2}, {limit: "off", gcPercent: -1}, {limit: "lots", gcPercent: 100}} {
		if _, _, err := bad.apply(func(string) string { return "" }, 0); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

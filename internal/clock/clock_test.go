package clock

import (
	"testing"
	"time"
)

func TestManual(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	m := NewManual(start)
	if got := m.Now(); !got.Equal(start) || got.Location() != time.UTC {
		t.Errorf("Now() = %v, want %v in UTC", got, start)
	}
	m.Advance(time.Hour)
	if got := m.Now(); !got.Equal(start.Add(time.Hour)) {
		t.Errorf("after Advance, Now() = %v", got)
	}
}

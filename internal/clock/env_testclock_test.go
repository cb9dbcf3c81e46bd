//go:build testclock

package clock

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFileClock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	c := FromEnv(func(string) string { return path })
	if d := time.Since(c.Now()); d > time.Minute || d < -time.Minute {
		t.Errorf("missing file: Now() = %v, want real time", c.Now())
	}
	if err := os.WriteFile(path, []byte("2030-05-06T07:08:09Z\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Now(), time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Now() = %v, want %v", got, want)
	}
}

//go:build testclock

package clock

import (
	"os"
	"strings"
	"time"
)

// FromEnv returns the clock a binary should use. Built with the testclock tag, it reads
// the time from the file named by KEYGATE_TEST_CLOCK_FILE on every call (a missing or
// unreadable file means real time), so an end-to-end test can move a running server's
// clock by rewriting one file.
func FromEnv(getenv func(string) string) Clock {
	path := getenv("KEYGATE_TEST_CLOCK_FILE")
	if path == "" {
		return System{}
	}
	return fileClock(path)
}

type fileClock string

func (f fileClock) Now() time.Time {
	b, err := os.ReadFile(string(f))
	if err != nil {
		return time.Now().UTC()
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil {
		return time.Now().UTC()
	}
	return t.UTC()
}

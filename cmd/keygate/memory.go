package main

import (
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// memoryFlags set the Go runtime's garbage collector for serve. The defaults trade a
// little heap for CPU (a request allocates ~2 KB, and at GOGC=100 with a small live heap
// the collector ran every few thousand requests, ~15 % of the server's CPU), and cap
// the heap so that a full token cache cannot push the process past its budget. The
// runtime's own GOMEMLIMIT and GOGC, when set, win over both.
type memoryFlags struct {
	limit     string
	gcPercent int
}

// Defaults: the automatic limit leaves room for the token cache at its bound.
const (
	defaultGCPercent = 400
	memoryLimitBase  = 64 << 20
	// defaultCacheSize keeps a server on a million tokens, cache full, under 200 MB RSS
	// with the automatic limit (docs/performance.md, "Server memory").
	defaultCacheSize   = 50_000
	memoryPerCacheItem = 1 << 10
)

func (m *memoryFlags) register(cmd *cobra.Command, a *app) {
	cmd.Flags().StringVar(&m.limit, "memory-limit", a.envOr("KEYGATE_MEMORY_LIMIT", "auto"),
		"soft limit on the Go runtime's memory: a size such as 512MiB, off, or auto (64 MiB + 1 KiB per --cache-size entry); GOMEMLIMIT wins when set (KEYGATE_MEMORY_LIMIT)")
	cmd.Flags().IntVar(&m.gcPercent, "gc-percent", envInt(a, "KEYGATE_GC_PERCENT", defaultGCPercent),
		"heap growth between collections, in percent of the live heap, as GOGC; -1 turns the collector off below the memory limit; GOGC wins when set (KEYGATE_GC_PERCENT)")
}

// memorySettings is what apply set, for the start-up log line.
type memorySettings struct {
	Limit     int64 // bytes; math.MaxInt64: none
	GCPercent int
	FromEnv   []string // runtime variables that won
}

// apply sets the runtime's limits and returns a function restoring the previous ones
// (serve runs in-process in tests).
func (m *memoryFlags) apply(getenv func(string) string, cacheSize int) (memorySettings, func(), error) {
	limit, err := parseMemoryLimit(m.limit, cacheSize)
	if err != nil {
		return memorySettings{}, nil, fmt.Errorf("--memory-limit: %w", err)
	}
	if m.gcPercent < -1 {
		return memorySettings{}, nil, fmt.Errorf("--gc-percent: %d is below -1", m.gcPercent)
	}
	if m.gcPercent == -1 && limit == math.MaxInt64 && getenv("GOMEMLIMIT") == "" {
		return memorySettings{}, nil, errors.New("--gc-percent -1 needs a --memory-limit: the heap would grow without bound")
	}
	set := memorySettings{Limit: limit, GCPercent: m.gcPercent}
	var undo []func()
	if getenv("GOMEMLIMIT") == "" {
		prev := debug.SetMemoryLimit(limit)
		undo = append(undo, func() { debug.SetMemoryLimit(prev) })
	} else {
		set.Limit = debug.SetMemoryLimit(-1) // -1 reads it
		set.FromEnv = append(set.FromEnv, "GOMEMLIMIT")
	}
	if getenv("GOGC") == "" {
		prev := debug.SetGCPercent(m.gcPercent)
		undo = append(undo, func() { debug.SetGCPercent(prev) })
	} else {
		set.GCPercent = debug.SetGCPercent(100)
		debug.SetGCPercent(set.GCPercent)
		set.FromEnv = append(set.FromEnv, "GOGC")
	}
	return set, func() {
		for _, f := range undo {
			f()
		}
	}, nil
}

// parseMemoryLimit reads auto, off, or a byte count with GOMEMLIMIT's suffixes (B, KiB,
// MiB, GiB, TiB).
func parseMemoryLimit(s string, cacheSize int) (int64, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "auto":
		return memoryLimitBase + int64(max(cacheSize, 0))*memoryPerCacheItem, nil
	case "off":
		return math.MaxInt64, nil
	}
	num := strings.TrimRight(s, "BKMGTib")
	unit := s[len(num):]
	shift, ok := map[string]uint{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}[unit]
	if !ok {
		return 0, fmt.Errorf("%q: the unit must be B, KiB, MiB, GiB or TiB", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q: want auto, off or a positive size such as 512MiB", s)
	}
	if n > math.MaxInt64>>shift {
		return 0, errors.New("the size is too large")
	}
	if n<<shift < 16<<20 {
		return 0, fmt.Errorf("%q: below 16MiB the collector would run all the time", s)
	}
	return n << shift, nil
}

// String renders the settings for the log.
func (s memorySettings) String() string {
	limit := "off"
	if s.Limit != math.MaxInt64 {
		limit = fmt.Sprintf("%dMiB", s.Limit>>20)
	}
	return fmt.Sprintf("limit %s, gc percent %d", limit, s.GCPercent)
}

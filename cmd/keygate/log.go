package main

import (
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// redactedKeys are attribute names whose values never reach the log, whatever a caller
// passes (DESIGN rule 7 backstop).
var redactedKeys = map[string]bool{"authorization": true, "password": true, "private_token": true, "token": true}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if redactedKeys[strings.ToLower(a.Key)] {
				return slog.String(a.Key, "[REDACTED]")
			}
			return a
		},
	}))
}

// passwordIterations lets tests lower the PBKDF2 cost (KEYGATE_PASSWORD_ITERATIONS); it
// is not documented for operators.
func passwordIterations(getenv func(string) string) int {
	n, _ := strconv.Atoi(getenv("KEYGATE_PASSWORD_ITERATIONS"))
	return n
}

package main

import (
	"bufio"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate/internal/jsonlog"
)

// redactedKeys are attribute names whose values never reach the log, whatever a caller
// passes (DESIGN rule 7 backstop).
var redactedKeys = map[string]bool{"authorization": true, "password": true, "private_token": true, "token": true}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(jsonlog.New(w, level, func(key string) bool { return redactedKeys[strings.ToLower(key)] }))
}

// passwordIterations lets tests lower the PBKDF2 cost (KEYGATE_PASSWORD_ITERATIONS); it
// is not documented for operators.
func passwordIterations(getenv func(string) string) int {
	n, _ := strconv.Atoi(getenv("KEYGATE_PASSWORD_ITERATIONS"))
	return n
}

// logFlushEvery bounds how long a log line waits in logWriter's buffer.
const logFlushEvery = 100 * time.Millisecond

// logWriter buffers the server's log and flushes it every logFlushEvery (and when the
// buffer fills): one write(2) per access-log line cost ~30 µs of a request's ~140 µs of
// server CPU under load. A kill -9 loses at most that interval of lines.
type logWriter struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newLogWriter(w io.Writer) *logWriter {
	l := &logWriter{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTicker(logFlushEvery)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				l.flush()
			}
		}
	}()
	return l
}

// Write takes one record (slog writes each with one call).
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *logWriter) flush() {
	l.mu.Lock()
	_ = l.w.Flush()
	l.mu.Unlock()
}

// Close stops the flusher and writes out what is buffered.
func (l *logWriter) Close() error {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
}

package server

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"
)

// logWriter records what the access log and metrics need. The API tells it the token ID
// through SetTokenID; it never sees a token.
type logWriter struct {
	http.ResponseWriter
	status  int
	bytes   int64
	tokenID int64
}

func (w *logWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// SetTokenID names the token that authenticated the request, for the access log.
func (w *logWriter) SetTokenID(id int64) { w.tokenID = id }

// Unwrap lets http.ResponseController reach the connection (flushing, deadlines).
func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// middleware adds a request ID, recovers panics as 500s, and writes one access-log line
// and the request metrics per request. The line carries the route pattern, not the raw
// URL, so tokens passed as query parameters never reach the log.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		w.Header()["X-Request-Id"] = []string{id}
		lw := &logWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "request_id", id, "panic", v, "stack", string(debug.Stack()))
				if lw.status == 0 {
					lw.Header().Set("Content-Type", "application/json")
					lw.WriteHeader(http.StatusInternalServerError)
					_, _ = lw.Write([]byte(`{"message":"500 Internal Server Error","request_id":"` + id + `"}` + "\n"))
				}
			}
			if lw.status == 0 {
				lw.status = http.StatusOK
			}
			d := time.Since(start)
			pattern := r.Pattern
			if pattern == "" {
				pattern = "unmatched"
			}
			s.metrics.observe(r.Method, pattern, lw.status, d)
			level := slog.LevelInfo
			if lw.status >= 500 {
				level = slog.LevelError
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method), slog.String("route", pattern),
				slog.Int("status", lw.status), slog.Duration("duration", d),
				slog.String("request_id", id), slog.String("remote", r.RemoteAddr),
			}
			if lw.tokenID != 0 {
				attrs = append(attrs, slog.String("token_id", strconv.FormatInt(lw.tokenID, 10)))
			}
			s.log.LogAttrs(r.Context(), level, "request", attrs...)
		}()
		next.ServeHTTP(lw, r)
	})
}

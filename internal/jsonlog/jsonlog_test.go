package jsonlog

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func redactToken(k string) bool { return strings.EqualFold(k, "token") }

// reference is what slog's own JSONHandler writes with the same redaction.
func reference(w *bytes.Buffer) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if redactToken(a.Key) {
				return slog.String(a.Key, Redacted)
			}
			return a
		},
	})
}

// same logs one record through both handlers and compares the bytes.
func same(t *testing.T, level slog.Level, msg string, attrs ...slog.Attr) {
	t.Helper()
	var got, want bytes.Buffer
	at := time.Date(2026, 12, 2, 1, 2, 3, 456789000, time.UTC)
	for _, h := range []struct {
		h slog.Handler
		w *bytes.Buffer
	}{{New(&got, slog.LevelInfo, redactToken), &got}, {reference(&want), &want}} {
		r := slog.NewRecord(at, level, msg, 0)
		r.AddAttrs(attrs...)
		if h.h.Enabled(context.Background(), level) {
			if err := h.h.Handle(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got.String() != want.String() {
		t.Fatalf("fast path wrote\n%s\nslog.JSONHandler wrote\n%s", got.String(), want.String())
	}
}

// TestSameAsJSONHandler: for the records of every kind, byte for byte what slog writes.
func TestSameAsJSONHandler(t *testing.T) {
	for _, tc := range []struct {
		name  string
		level slog.Level
		msg   string
		attrs []slog.Attr
	}{
		{"access line", slog.LevelInfo, "request", []slog.Attr{
			slog.String("method", "GET"), slog.String("route", "GET /api/v4/user"), slog.Int("status", 200),
			slog.Duration("duration", 1234567*time.Nanosecond), slog.String("request_id", "0f1e2d3c4b5a6978"),
			slog.String("remote", "127.0.0.1:5555"), slog.String("token_id", "42"),
		}},
		{"escapes", slog.LevelWarn, "a \"quoted\"\n\tline\\ <b>&amp;</b>", []slog.Attr{
			slog.String("ctl", "\x00\x01\x1f\x7f"), slog.String("bad utf8", "a\xffb"), slog.String("seps", "x\u2028y\u2029z"),
			slog.String("unicode", "héllo wörld ✓"), slog.Bool("ok", true), slog.Uint64("big", 1<<63),
		}},
		{"redacted", slog.LevelError, "oops", []slog.Attr{slog.String("token", "glpat-secret"), slog.Int("TOKEN", 5)}},
		{"custom level", slog.LevelInfo + 2, "m", nil},
		{"debug is dropped", slog.LevelDebug, "m", nil},
		{"slow path: group", slog.LevelInfo, "m", []slog.Attr{slog.Group("g", slog.String("token", "x"), slog.Int("n", 1))}},
		{"slow path: any, time, float", slog.LevelInfo, "m", []slog.Attr{
			slog.Any("err", context.Canceled), slog.Time("at", time.Unix(5, 0).UTC()), slog.Float64("f", 0.5),
		}},
		{"slow path: empty key", slog.LevelInfo, "m", []slog.Attr{slog.String("", "")}},
	} {
		t.Run(tc.name, func(t *testing.T) { same(t, tc.level, tc.msg, tc.attrs...) })
	}
}

// TestWithAttrs: a derived logger keeps the format and the redaction.
func TestWithAttrs(t *testing.T) {
	var got bytes.Buffer
	log := slog.New(New(&got, slog.LevelInfo, redactToken)).With("token", "glpat-x").WithGroup("g")
	log.Info("m", "n", 1)
	if s := got.String(); strings.Contains(s, "glpat-x") || !strings.Contains(s, `"token":"[REDACTED]","g":{"n":1}`) {
		t.Fatalf("derived logger wrote %s", s)
	}
}

// FuzzSameAsJSONHandler: any message, key and value give what slog writes.
func FuzzSameAsJSONHandler(f *testing.F) {
	f.Add("request", "route", "GET /api/v4/user", int64(200))
	f.Add("a\"b\\c\n", "k\x00", "\xff\u2028<>&", int64(-1))
	f.Fuzz(func(t *testing.T, msg, key, val string, n int64) {
		if key == "" {
			key = "k"
		}
		same(t, slog.LevelInfo, msg, slog.String(key, val), slog.Int64("n", n), slog.Duration("d", time.Duration(n)))
	})
}

func BenchmarkAccessLine(b *testing.B) {
	attrs := []slog.Attr{
		slog.String("method", "GET"), slog.String("route", "GET /api/v4/user"), slog.Int("status", 200),
		slog.Duration("duration", 1234567), slog.String("request_id", "0f1e2d3c4b5a6978"),
		slog.String("remote", "127.0.0.1:5555"), slog.String("token_id", "42"),
	}
	var sink bytes.Buffer
	for _, h := range []struct {
		name string
		h    slog.Handler
	}{{"jsonlog", New(&sink, slog.LevelInfo, redactToken)}, {"slog.JSONHandler", reference(&sink)}} {
		b.Run(h.name, func(b *testing.B) {
			log := slog.New(h.h)
			b.ReportAllocs()
			for b.Loop() {
				sink.Reset()
				log.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
			}
		})
	}
}

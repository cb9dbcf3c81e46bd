package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
	"github.com/keygate/keygate/internal/store"
)

// idemPost sends a rotate with an optional Idempotency-Key and returns status, body and
// whether the answer was a replay.
func idemPost(t *testing.T, url, token, key, body string) (int, []byte, bool) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Private-Token", token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header.Get("Idempotent-Replayed") == "true"
}

func tokenOf(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		Token string `json:"token"`
	}
	if err := decodeJSON(&http.Response{Body: io.NopCloser(bytes.NewReader(body))}, &v); err != nil || v.Token == "" {
		t.Fatalf("no token in %s (%v)", body, err)
	}
	return v.Token
}

// rotateCase is one rotate endpoint: the URL and the token presented (and rotated, for
// the self endpoints and personal tokens rotated by their own ID).
type rotateCase struct {
	name, path, token string
}

func rotateCases(t *testing.T, w *world) []rotateCase {
	t.Helper()
	srv := w.srv
	ctx := context.Background()
	dev := w.tok["dev"]
	p, err := srv.Service.Authenticate(ctx, serviceCred(dev))
	if err != nil {
		t.Fatal(err)
	}
	gtokID, gtokSecret := w.resourceToken(t, authz.KindGroup, w.g["private"].ID, "gself", keygate.Developer)
	_ = gtokID
	pid, gid := strconv.FormatInt(w.p["private"].ID, 10), strconv.FormatInt(w.g["private"].ID, 10)
	root := srv.RootToken
	return []rotateCase{
		{"personal self", "/personal_access_tokens/self/rotate", w.tok["mia"]},
		{"personal by id", "/personal_access_tokens/" + strconv.FormatInt(p.Token.ID, 10) + "/rotate", dev},
		{"project by id", "/projects/" + pid + "/access_tokens/" + strconv.FormatInt(w.ptok["private"], 10) + "/rotate", root},
		{"project self", "/projects/" + strconv.FormatInt(w.p["public"].ID, 10) + "/access_tokens/self/rotate", w.ptokSecret["public"]},
		{"group by id", "/groups/" + gid + "/access_tokens/" + strconv.FormatInt(w.gtok["private"], 10) + "/rotate", root},
		{"group self", "/groups/" + gid + "/access_tokens/self/rotate", gtokSecret},
		{"service account", "/groups/" + gid + "/service_accounts/" + strconv.FormatInt(w.gsa["private"], 10) +
			"/personal_access_tokens/" + strconv.FormatInt(w.gsaToken["private"], 10) + "/rotate", root},
	}
}

// TestIdempotentRotate: on every rotate endpoint a retry with the same key answers the
// same status and body, even though the first attempt revoked the presented token, and
// the successor stays usable (the retry is no reuse).
func TestIdempotentRotate(t *testing.T) {
	srv := keygatetest.NewServer(t)
	w := newWorld(t, srv)
	cases := rotateCases(t, w)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := "retry-" + strconv.Itoa(i)
			st1, b1, rep1 := idemPost(t, srv.API+c.path, c.token, key, "")
			if st1 != 200 || rep1 {
				t.Fatalf("first rotate = %d (replayed %v) %s, want 200", st1, rep1, b1)
			}
			st2, b2, rep2 := idemPost(t, srv.API+c.path, c.token, key, "")
			if st2 != st1 || !bytes.Equal(b1, b2) || !rep2 {
				t.Fatalf("retry = %d (replayed %v) %s, want %d %s replayed", st2, rep2, b2, st1, b1)
			}
			next := tokenOf(t, b1)
			if st, body := get(t, srv, next, "/personal_access_tokens/self"); st != 200 {
				t.Fatalf("successor after retry: GET self = %d %s, want 200 (no reuse detection)", st, body)
			}
		})
	}
	// Every replay is audited on the presented token, with its fingerprint.
	evs, _, err := srv.Service.AuditEvents(context.Background(), authz.SystemSubject(), store.AuditFilter{Name: keygate.AuditRotationReplayed})
	if err != nil || len(evs) != len(cases) {
		t.Fatalf("replay audit events = %d, %v; want one per retried rotate", len(evs), err)
	}
	for _, e := range evs {
		if e.Fingerprint == "" || e.TargetID == 0 {
			t.Errorf("replay event %+v lacks the token or its fingerprint", e)
		}
	}
}

func get(t *testing.T, srv *keygatetest.Server, token, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.API+path, nil)
	req.Header.Set("Private-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestIdempotencyDenials: a key reused for another token, endpoint or expiry is a 422 and
// changes nothing; a malformed key is a 400 that changes nothing; a failed rotate
// releases its key; a closed window forgets the key, erases the record, and a retry then
// is a reuse.
func TestIdempotencyDenials(t *testing.T) {
	srv := keygatetest.NewServer(t)
	ctx := context.Background()
	u := srv.User(t, "ina", false)
	a := srv.Token(t, u.ID, "a", keygate.ScopeAPI)
	b := srv.Token(t, u.ID, "b", keygate.ScopeAPI)
	self := srv.API + "/personal_access_tokens/self/rotate"

	if st, body, _ := idemPost(t, self, a, strings.Repeat("k", 256), ""); st != 400 || !strings.Contains(string(body), "Idempotency-Key") {
		t.Fatalf("256-character key = %d %s, want 400 naming the header", st, body)
	}
	if st, body, _ := idemPost(t, self, a, "bad key", ""); st != 400 {
		t.Fatalf("key with a space = %d %s, want 400", st, body)
	}
	// A failed rotate (expiry in the past) changes nothing and frees the key.
	if st, body, _ := idemPost(t, self, a, "k1", `{"expires_at":"2020-01-01"}`); st != 400 {
		t.Fatalf("rotate with a past expiry = %d %s, want 400", st, body)
	}
	exp := keygate.DateOf(srv.Clock.Now()).AddDays(10).String()
	st, first, _ := idemPost(t, self, a, "k1", `{"expires_at":"`+exp+`"}`)
	if st != 200 {
		t.Fatalf("rotate after the failure, same key = %d %s, want 200", st, first)
	}
	for _, c := range []struct {
		name, url, token, body string
	}{
		{"other token", self, b, `{"expires_at":"` + exp + `"}`},
		{"other expiry", self, a, `{"expires_at":"` + keygate.DateOf(srv.Clock.Now()).AddDays(11).String() + `"}`},
		{"other endpoint", srv.API + "/personal_access_tokens/1/rotate", a, `{"expires_at":"` + exp + `"}`},
	} {
		st, body, _ := idemPost(t, c.url, c.token, "k1", c.body)
		if st != 422 || !strings.Contains(string(body), "different request") {
			t.Errorf("%s with a used key = %d %s, want 422", c.name, st, body)
		}
	}
	if st, body := get(t, srv, b, "/personal_access_tokens/self"); st != 200 {
		t.Fatalf("token b after the refused reuse of a key = %d %s, want 200 (unchanged)", st, body)
	}
	if evs, _, err := srv.Service.AuditEvents(ctx, authz.SystemSubject(), store.AuditFilter{Name: keygate.AuditIdempotencyReused}); err != nil || len(evs) != 3 {
		t.Errorf("key-reuse audit events = %d, %v; want 3", len(evs), err)
	}
	next := tokenOf(t, first)
	// At rest the stored answer is sealed: the successor's plaintext is in no database file.
	for _, name := range []string{"keygate.db", "keygate.db-wal"} {
		if b, err := os.ReadFile(filepath.Join(srv.DataDir, name)); err == nil && bytes.Contains(b, []byte(next)) {
			t.Fatalf("%s holds the successor's plaintext", name)
		}
	}

	// The window closes after 24 hours on the service clock: the record is erased and a
	// retry is then an ordinary presentation of a rotated-away token: a reuse.
	srv.Clock.Advance(24*time.Hour + time.Second)
	if n, err := srv.Service.PurgeIdempotency(ctx); err != nil || n != 1 {
		t.Fatalf("PurgeIdempotency = %d, %v; want 1 record erased", n, err)
	}
	if st, body, rep := idemPost(t, self, a, "k1", `{"expires_at":"`+exp+`"}`); st != 401 || rep {
		t.Fatalf("retry after the window = %d (replayed %v) %s, want 401", st, rep, body)
	}
	if st, body := get(t, srv, next, "/personal_access_tokens/self"); st != 401 {
		t.Fatalf("successor after a late retry = %d %s, want 401 (family revoked on reuse)", st, body)
	}
}

// TestIdempotentRotateConcurrent: racing requests with one key rotate once; each answer
// is the successor or a 409 "not finished", never a reuse that kills the family.
func TestIdempotentRotateConcurrent(t *testing.T) {
	srv := keygatetest.NewServer(t)
	u := srv.User(t, "cora", false)
	tok := srv.Token(t, u.ID, "c", keygate.ScopeAPI)
	var wg sync.WaitGroup
	type answer struct {
		st   int
		body []byte
	}
	answers := make([]answer, 6)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, b, _ := idemPost(t, srv.API+"/personal_access_tokens/self/rotate", tok, "race", "")
			answers[i] = answer{st, b}
		}()
	}
	wg.Wait()
	var succ []byte
	for _, a := range answers {
		switch a.st {
		case 200:
			if succ != nil && !bytes.Equal(succ, a.body) {
				t.Fatalf("two different successors: %s and %s", succ, a.body)
			}
			succ = a.body
		case 409:
		default:
			t.Fatalf("racing rotate = %d %s, want 200 or 409", a.st, a.body)
		}
	}
	if succ == nil {
		t.Fatal("no racing rotate succeeded")
	}
	st, again, _ := idemPost(t, srv.API+"/personal_access_tokens/self/rotate", tok, "race", "")
	if st != 200 || !bytes.Equal(again, succ) {
		t.Fatalf("retry after the race = %d %s, want the successor", st, again)
	}
	if st, body := get(t, srv, tokenOf(t, succ), "/personal_access_tokens/self"); st != 200 {
		t.Fatalf("successor = %d %s, want 200", st, body)
	}
}

// crashWriter is a process that dies as it answers: the first WriteHeader panics (the
// rotation has committed by then, the client hears nothing) and everything after it is
// dropped.
type crashWriter struct {
	h       http.Header
	crashed bool
	status  int
}

func (c *crashWriter) Header() http.Header {
	if c.h == nil {
		c.h = http.Header{}
	}
	return c.h
}

func (c *crashWriter) WriteHeader(code int) {
	if !c.crashed {
		c.crashed, c.status = true, code
		panic("crash: the process dies as it answers")
	}
}

func (c *crashWriter) Write(b []byte) (int, error) { c.WriteHeader(200); return len(b), nil }

// crashRotate sends one rotate through the server's handler into a crashWriter and
// reports whether it crashed.
func crashRotate(t *testing.T, srv *keygatetest.Server, path, token, key string) (crashed bool) {
	t.Helper()
	req, err := http.NewRequest("POST", srv.API+path, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	req.RemoteAddr = "127.0.0.1:1"
	req.Header.Set("Private-Token", token)
	req.Header.Set("Idempotency-Key", key)
	cw := &crashWriter{}
	defer func() {
		if v := recover(); v != nil {
			crashed = true
		}
		crashed = crashed || cw.crashed
	}()
	defer func() {
		if cw.status != 200 {
			t.Errorf("the rotate crashed answering %d, want 200", cw.status)
		}
	}()
	srv.HTTP.Config.Handler.ServeHTTP(cw, req)
	return cw.crashed
}

// TestIdempotentRotateCrash: on every rotate endpoint a crash after the rotation
// committed and before the client heard the answer loses nothing: the retry with the
// same key is answered the stored successor, the successor works, and the retry is no
// reuse (the successor is not revoked).
func TestIdempotentRotateCrash(t *testing.T) {
	srv := keygatetest.NewServer(t)
	w := newWorld(t, srv)
	for i, c := range rotateCases(t, w) {
		t.Run(c.name, func(t *testing.T) {
			key := "crash-" + strconv.Itoa(i)
			if !crashRotate(t, srv, c.path, c.token, key) {
				t.Fatal("the rotate did not reach its answer")
			}
			st, b, replayed := idemPost(t, srv.API+c.path, c.token, key, "")
			if st != 200 || !replayed {
				t.Fatalf("retry after the crash = %d (replayed %v) %s, want the stored 200", st, replayed, b)
			}
			next := tokenOf(t, b)
			if st, body := get(t, srv, next, "/personal_access_tokens/self"); st != 200 {
				t.Fatalf("successor after the crash: GET self = %d %s, want 200", st, body)
			}
			if st2, b2, _ := idemPost(t, srv.API+c.path, c.token, key, ""); st2 != 200 || !bytes.Equal(b, b2) {
				t.Fatalf("second retry = %d %s, want the same answer", st2, b2)
			}
		})
	}
}

// TestIdempotentRotateAbandoned: a process that died after reserving the key and before
// its rotation committed left nothing rotated; within the lease a retry hears 409, after
// it the retry rotates.
func TestIdempotentRotateAbandoned(t *testing.T) {
	srv := keygatetest.NewServer(t)
	w := newWorld(t, srv)
	tok := w.tok["mia"]
	ir := service.IdempotentRequest{Key: "abandoned", Credential: tok,
		Request: "POST /api/v4/personal_access_tokens/self/rotate\nexpires_at="}
	if err := srv.Service.ReserveIdempotency(context.Background(), ir); err != nil {
		t.Fatal(err)
	}
	if st, b, _ := idemPost(t, srv.API+"/personal_access_tokens/self/rotate", tok, ir.Key, ""); st != 409 {
		t.Fatalf("retry within the lease = %d %s, want 409", st, b)
	}
	srv.Clock.Advance(service.IdempotencyLease)
	st, b, replayed := idemPost(t, srv.API+"/personal_access_tokens/self/rotate", tok, ir.Key, "")
	if st != 200 || replayed {
		t.Fatalf("retry after the lease = %d (replayed %v) %s, want a fresh rotation", st, replayed, b)
	}
	if st, body := get(t, srv, tokenOf(t, b), "/personal_access_tokens/self"); st != 200 {
		t.Fatalf("successor: GET self = %d %s", st, body)
	}
	if st2, b2, rep := idemPost(t, srv.API+"/personal_access_tokens/self/rotate", tok, ir.Key, ""); st2 != 200 || !rep || !bytes.Equal(b, b2) {
		t.Fatalf("retry of the reclaimed key = %d (replayed %v) %s, want the replay", st2, rep, b2)
	}
}

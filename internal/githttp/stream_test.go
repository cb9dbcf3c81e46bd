package githttp_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/clock"
	"github.com/keygate/keygate/internal/githttp"
	"github.com/keygate/keygate/internal/instance"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

// TestLargePushStreams pushes 50 MB of incompressible data and watches the server's heap
// (the server runs in this process; git runs outside it): it must stay far below the
// push, since the pack streams from the connection to git without being held. It is
// not parallel, so no other test's allocations blur the figure.
func TestLargePushStreams(t *testing.T) {
	const size = 50 << 20
	w := newWorld(t)
	g := newGit(t)
	p := w.p["private"]
	dir := g.workTree(map[string]string{"README.md": "big\n"})
	f, err := os.Create(filepath.Join(dir, "blob.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.NewChaCha8([32]byte{1}), size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	g.ok(dir, "-c", "core.compression=0", "add", "blob.bin")
	g.ok(dir, "commit", "-q", "-m", "50 MB")
	url := remote(w.srv, "oauth2", w.pat("mia", keygate.ScopeWriteRepository), p.FullPath())

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, baseTotal := ms.HeapAlloc, ms.TotalAlloc
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var max uint64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			max = maxU(max, m.HeapAlloc)
			select {
			case <-done:
				peak <- max
				return
			case <-tick.C:
			}
		}
	}()
	_, stderr, err := g.run(dir, "-c", "pack.compression=0", "push", "-q", url, "main")
	close(done)
	top := <-peak
	if err != nil {
		t.Fatalf("push of %d MB: %v\n%s", size>>20, err, stderr)
	}
	runtime.ReadMemStats(&ms)
	growth := int64(top) - int64(base)
	t.Logf("50 MB push: peak heap growth %.1f MB, allocated during the push %.1f MB", float64(growth)/(1<<20), float64(ms.TotalAlloc-baseTotal)/(1<<20))
	if growth > 20<<20 {
		t.Errorf("heap grew by %.1f MB during a %d MB push, want < 20 MB (the pack must stream)", float64(growth)/(1<<20), size>>20)
	}
	if got := g.ok(w.srv.Inst.Repositories.Path(p.FullPath()), "cat-file", "-s", "main:blob.bin"); got != "52428800" {
		t.Errorf("the pushed blob has %s bytes in the repository, want %d", got, size)
	}
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// TestFailedAuthenticationBan: Git failures count towards the per-address ban (DESIGN
// §1.1), banned addresses get GitLab's rack-attack 403, and gitlab-ci-token logins never
// count. Loopback is exempt, so the handler is driven directly with another address.
func TestFailedAuthenticationBan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	in, err := instance.Open(ctx, instance.Config{
		DataDir: t.TempDir(), Clock: clock.NewManual(keygatetest.Start), PasswordIterations: 1000,
		Ban: &service.BanConfig{MaxRetry: 3, FindTime: time.Minute, BanTime: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close(ctx) })
	h := githttp.New(githttp.Config{Service: in.Service, Repositories: in.Repositories, ExternalURL: "http://keygate.test"})
	exp := keygate.DateOf(keygatetest.Start).AddDays(30)
	iss, err := in.Service.CreatePersonalToken(ctx, authz.SystemSubject(), 1, service.TokenInput{Name: "ok", Scopes: keygate.Scopes{keygate.ScopeAPI}, ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	good := iss.Secret.Reveal()
	send := func(addr, user, password, header string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/no/such.git/info/refs?service=git-upload-pack", nil)
		req.RemoteAddr = addr + ":5000"
		switch {
		case header != "":
			req.Header.Set("Authorization", header)
		case user != "" || password != "":
			req.SetBasicAuth(user, password)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i := range 5 {
		if rec := send("203.0.113.10", githttp.JobTokenUsername, "glcbt-nope", ""); rec.Code != 401 {
			t.Fatalf("job-token attempt %d = %d, want 401", i, rec.Code)
		}
	}
	if rec := send("203.0.113.10", "root", good, ""); rec.Code != 404 {
		t.Errorf("after failed gitlab-ci-token logins a valid token gets %d, want 404 (not banned)", rec.Code)
	}
	for i, hdr := range []string{"", "Basic !!!", ""} {
		if rec := send("203.0.113.9", "x", "glpat-nope", hdr); rec.Code != 401 {
			t.Fatalf("failure %d = %d, want 401", i, rec.Code)
		}
	}
	rec := send("203.0.113.9", "root", good, "")
	if rec.Code != 403 || rec.Body.String() != "Forbidden\n" || rec.Header().Get("Content-Type") != "text/plain" {
		t.Errorf("banned address = %d %q %q, want 403 Forbidden", rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"))
	}
	if rec := send("203.0.113.9", "", "", ""); rec.Code != 401 || !strings.HasPrefix(rec.Body.String(), "HTTP Basic: Access denied") {
		t.Errorf("banned address without credentials = %d, want the ordinary 401", rec.Code)
	}
	if rec := send("198.51.100.1", "root", good, ""); rec.Code != 404 {
		t.Errorf("another address = %d, want 404", rec.Code)
	}
}

package forwardauth_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/keygatetest"
)

// The proxy tests run the nginx and Caddy snippets of docs/gate.md, verbatim but for the
// addresses, in front of an upstream started by the test.

// docSnippet returns the first code block of the given language in docs/gate.md.
func docSnippet(t *testing.T, lang string) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/gate.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatalf("docs/gate.md has no %s block", lang)
	}
	return string(m[1])
}

// upstream answers with the identity headers it received, as JSON.
func upstream(t *testing.T) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen := map[string]string{"path": r.URL.Path}
		for k := range r.Header {
			if strings.HasPrefix(k, "X-Keygate-") {
				seen[k] = r.Header.Get(k)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen)
	}))
	t.Cleanup(up.Close)
	return up
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startProxy runs cmd until the test ends and waits until addr answers.
func startProxy(t *testing.T, cmd *exec.Cmd, addr string, logFile string) {
	t.Helper()
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// A graceful stop: nginx's master takes its workers down with it (SIGKILL would
		// orphan them).
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		out.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("%s did not listen on %s: %s", cmd.Path, addr, log)
		}
		time.Sleep(20 * time.Millisecond) // polling a real process's port, with a deadline
	}
}

func hostPort(rawURL string) string { return strings.TrimPrefix(rawURL, "http://") }

func startNginx(t *testing.T, keygate, up string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
			t.Skip("nginx not installed: skipping the nginx forward-auth test")
		}
		bin = "/usr/sbin/nginx"
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	server := strings.NewReplacer(
		"listen 80;", "listen "+addr+";",
		"127.0.0.1:8080", keygate,
		"127.0.0.1:9000", up,
	).Replace(docSnippet(t, "nginx"))
	conf := fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, server)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	startProxy(t, exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;"), addr, filepath.Join(dir, "out.log"))
	return "http://" + addr
}

func startCaddy(t *testing.T, keygate, up string) string {
	t.Helper()
	bin, err := exec.LookPath("caddy")
	if err != nil {
		t.Skip("caddy not installed: skipping the Caddy forward-auth test")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	site := strings.NewReplacer(
		":80 {", "http://:"+port+" {\n\tbind 127.0.0.1",
		"127.0.0.1:8080", keygate,
		"127.0.0.1:9000", up,
	).Replace(docSnippet(t, "caddyfile"))
	conf := "{\n\tadmin off\n\tauto_https off\n\tstorage file_system " + dir + "/data\n}\n" + site
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	startProxy(t, cmd, addr, filepath.Join(dir, "out.log"))
	return "http://" + addr
}

type proxied struct {
	status int
	header http.Header
	body   string
	seen   map[string]string // what the upstream saw, on 200
}

func through(t *testing.T, proxy, method, path string, header map[string]string) proxied {
	t.Helper()
	req, err := http.NewRequest(method, proxy+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "billing.internal"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	p := proxied{status: resp.StatusCode, header: resp.Header, body: string(raw)}
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(raw, &p.seen); err != nil {
			t.Fatalf("upstream answer %q: %v", raw, err)
		}
	}
	return p
}

func TestProxies(t *testing.T) {
	for _, proxy := range []string{"nginx", "caddy"} {
		t.Run(proxy, func(t *testing.T) {
			t.Parallel()
			srv, w := newGateServer(t, keygatetest.Options{})
			up := upstream(t)
			var base string
			if proxy == "nginx" {
				base = startNginx(t, hostPort(srv.URL), hostPort(up.URL))
			} else {
				base = startCaddy(t, hostPort(srv.URL), hostPort(up.URL))
			}
			checkProxy(t, proxy, base, srv, w)
		})
	}
}

func checkProxy(t *testing.T, proxy, base string, srv *keygatetest.Server, w *keygatetest.GateWorld) {
	tok := w.Tokens
	// A good token reaches the upstream, which sees the identity headers; a client's own
	// X-Keygate-* headers do not get through.
	got := through(t, base, "GET", "/api/invoices?x=1", map[string]string{"Authorization": "Bearer " + tok["dev"], "X-Keygate-Access-Level": "50"})
	if got.status != 200 {
		t.Fatalf("good token = %d %s", got.status, got.body)
	}
	want := map[string]string{
		"path": "/api/invoices", "X-Keygate-User": "dev", "X-Keygate-User-Id": fmt.Sprint(w.Users["dev"].ID),
		"X-Keygate-Token-Id": fmt.Sprint(w.TokenIDs["dev"]), "X-Keygate-Token-Type": "personal",
		"X-Keygate-Scopes": "api", "X-Keygate-Access-Level": "30",
	}
	for k, v := range want {
		if got.seen[k] != v {
			t.Errorf("upstream saw %s = %q, want %q (all: %v)", k, got.seen[k], v, got.seen)
		}
	}
	// Basic with the token as password, as git or pip send it.
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("dev:"+tok["dev"]))
	if got := through(t, base, "GET", "/api/x", map[string]string{"Authorization": basic}); got.status != 200 || got.seen["X-Keygate-User"] != "dev" {
		t.Errorf("basic = %d %v", got.status, got.seen)
	}
	// Anonymous service: no identity, and a spoofed one is dropped.
	if got := through(t, base, "GET", "/status", map[string]string{"X-Keygate-User": "root"}); got.status != 200 || got.seen["X-Keygate-User"] != "" {
		t.Errorf("anonymous = %d %v, want 200 without identity", got.status, got.seen)
	}

	refusals := []struct {
		name   string
		path   string
		header map[string]string
		status int
		desc   string
	}{
		{"no token", "/api/x", nil, 401, ""},
		{"bad token", "/api/x", map[string]string{"Private-Token": "glpat-nope"}, 401, ""},
		{"expired", "/api/x", map[string]string{"Private-Token": tok["expired"]}, 401, keygate.ErrTokenExpired.Message},
		{"revoked", "/api/x", map[string]string{"Private-Token": tok["revoked"]}, 401, keygate.ErrTokenRevoked.Message},
		{"missing scope", "/api/x", map[string]string{"Private-Token": tok["dev_k8s"]}, 403, ""},
		{"role too low", "/api/x", map[string]string{"Private-Token": tok["gus"]}, 403, ""},
		{"non-member", "/api/x", map[string]string{"Private-Token": tok["sam"]}, 403, ""},
		{"no service", "/elsewhere", map[string]string{"Private-Token": tok["dev"]}, 403, ""},
	}
	for _, tc := range refusals {
		got := through(t, base, "GET", tc.path, tc.header)
		if got.status != tc.status {
			t.Errorf("%s: status = %d %s, want %d", tc.name, got.status, got.body, tc.status)
			continue
		}
		if tc.status == 401 {
			vals := got.header.Values("WWW-Authenticate")
			joined := strings.Join(vals, "\n")
			if !strings.Contains(joined, `Bearer realm="keygate"`) || !strings.Contains(joined, `Basic realm="keygate"`) {
				t.Errorf("%s: WWW-Authenticate = %q, want Bearer and Basic", tc.name, vals)
			}
			if tc.desc != "" && !strings.Contains(joined, `error="invalid_token", error_description="`+tc.desc+`"`) {
				t.Errorf("%s: WWW-Authenticate = %q, want the error description", tc.name, vals)
			}
			// The spec's 401 bodies reach the client through both proxies.
			wantBody := `{"message":"401 Unauthorized"}`
			if tc.desc != "" {
				wantBody = `{"error":"invalid_token","error_description":"` + tc.desc + `"}`
			}
			if strings.TrimSpace(got.body) != wantBody {
				t.Errorf("%s: body = %q, want %s", tc.name, got.body, wantBody)
			}
			if ct := got.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("%s: Content-Type = %q", tc.name, ct)
			}
		}
		if tc.status == 403 && !strings.Contains(got.body, `"403 Forbidden"`) {
			t.Errorf("%s: body = %q", tc.name, got.body)
		}
	}
	// Keygate's explanation reaches the client (nginx: through X-Keygate-Body), and is
	// withheld from a caller who cannot see the resource.
	got = through(t, base, "GET", "/api/x", map[string]string{"Private-Token": tok["gus"]})
	if !strings.Contains(got.body, "needs the Developer role") {
		t.Errorf("403 body = %q, want Keygate's explanation", got.body)
	}
	got = through(t, base, "GET", "/api/x", map[string]string{"Private-Token": tok["sam"]})
	if strings.TrimSpace(got.body) != `{"message":"403 Forbidden"}` {
		t.Errorf("403 body for a non-member = %q, want a bare 403", got.body)
	}

	// Revoked through the API: refused on the very next request.
	req, _ := http.NewRequest("DELETE", srv.API+"/personal_access_tokens/self", nil)
	req.Header.Set("Private-Token", tok["dev"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("revoke = %v, %v", resp, err)
	}
	resp.Body.Close()
	if got := through(t, base, "GET", "/api/x", map[string]string{"Private-Token": tok["dev"]}); got.status != 401 {
		t.Errorf("after revocation = %d, want 401", got.status)
	}
}

package keygatetest

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/registryauth"
)

// RegistryBinary is Debian's CNCF distribution registry (package docker-registry).
const RegistryBinary = "/usr/bin/docker-registry"

// StartRegistry runs a real registry on a loopback port with Keygate's auth.token block
// for srv (started with Options.Registry) and returns its host:port; the test skips
// without the binary. The realm names localhost: go-containerregistry refuses a realm at
// a loopback IP literal. The registry checks iat, nbf and exp on the real time, so
// callers set srv.Clock to time.Now().
func StartRegistry(t *testing.T, srv *Server) string {
	t.Helper()
	if _, err := os.Stat(RegistryBinary); err != nil {
		t.Skip("docker-registry not installed (apt-get install docker-registry)")
	}
	ku, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	realm := "http://localhost:" + ku.Port() + registryauth.Path
	addr := freeLoopback(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), addr) + registryauth.TokenBlock(realm, registryauth.DefaultIssuer, srv.RegistryCertFile)
	cfgFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs SyncBuffer
	cmd := exec.Command(RegistryBinary, "serve", cfgFile)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start registry: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("registry log:\n%s", logs.String())
		}
	})
	// Wait for the registry to answer, with a deadline (a real process starting).
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry did not answer on %s: %v\n%s", addr, err, strings.TrimSpace(logs.String()))
		}
		<-tick.C
	}
}

// freeLoopback picks a loopback address nobody listens on (the registry cannot report a
// :0 port back).
func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

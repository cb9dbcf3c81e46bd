package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/instance"
	"github.com/keygate/keygate/internal/registryauth"
)

func jwtAuth(t *testing.T, base, user, pass, query string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/jwt/auth?"+query, nil)
	if pass != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeRegistry(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"KEYGATE_PASSWORD_ITERATIONS": "1000", "KEYGATE_REGISTRY_ISSUER": "my-issuer"}
	base := startInProcess(t, env, "--data-dir", dir, "--registry-url", "https://Registry.Example.com:5050/").Base
	keyFile := filepath.Join(dir, "registry", "token.key")
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("registry key %s: %v, mode %v, want 0600", keyFile, err, fi)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "registry", "token.crt"))
	if err != nil {
		t.Fatalf("certificate beside the key: %v", err)
	}
	keyPEM, _ := os.ReadFile(keyFile)
	key, err := registryauth.ParseKey(keyPEM)
	if err != nil || registryauth.CheckCert(certPEM, key) != nil {
		t.Fatalf("key and certificate do not match: %v", err)
	}
	kid, _ := registryauth.KeyID(&key.PublicKey)

	tok, errOut, err := runCLI(t, testEnv, "", "admin", "token", "create", "--data-dir", dir, "--user", "root", "--name", "reg",
		"--scopes", "read_registry", "--expires-at", time.Now().AddDate(0, 1, 0).Format("2006-01-02"))
	if err != nil {
		t.Fatalf("token create: %v %s", err, errOut)
	}
	st, body := jwtAuth(t, base, "root", strings.TrimSpace(tok), "service=container_registry&scope=registry:catalog:*")
	if st != 200 {
		t.Fatalf("/jwt/auth = %d %s", st, body)
	}
	var ans struct{ Token string }
	_ = json.Unmarshal([]byte(body), &ans)
	parts := strings.Split(ans.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("token = %q", ans.Token)
	}
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	c, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if !strings.Contains(string(h), `"kid":"`+kid+`"`) || !strings.Contains(string(c), `"iss":"my-issuer"`) || !strings.Contains(string(c), `"name":"catalog"`) {
		t.Errorf("JWT header %s claims %s, want kid %s and iss my-issuer", h, c, kid)
	}

	// The image prefix uses the registry's host.
	req, _ := http.NewRequest("POST", base+"/api/v4/projects", strings.NewReader(`{"name":"App"}`))
	req.Header.Set("Content-Type", "application/json")
	api, _, err := runCLI(t, testEnv, "", "admin", "token", "create", "--data-dir", dir, "--user", "root", "--name", "api",
		"--scopes", "api", "--expires-at", time.Now().AddDate(0, 1, 0).Format("2006-01-02"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("PRIVATE-TOKEN", strings.TrimSpace(api))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(pb), `"container_registry_image_prefix":"registry.example.com:5050/root/app"`) {
		t.Errorf("project = %s, want the image prefix registry.example.com:5050/root/app", pb)
	}

	// admin registry config prints the block for the same files.
	out, errOut, err := runCLI(t, testEnv, "", "admin", "registry", "config", "--data-dir", dir, "--external-url", "http://localhost:8080/", "--registry-issuer", "my-issuer")
	if err != nil {
		t.Fatalf("admin registry config: %v %s", err, errOut)
	}
	abs, _ := filepath.Abs(filepath.Join(dir, "registry", "token.crt"))
	want := "auth:\n  token:\n    realm: http://localhost:8080/jwt/auth\n    service: container_registry\n    issuer: my-issuer\n    rootcertbundle: " + abs + "\n"
	if out != want {
		t.Errorf("admin registry config = %q, want %q", out, want)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "registry", "token.crt")); string(again) != string(certPEM) {
		t.Error("admin registry config replaced the certificate")
	}
}

func TestServeRegistryOff(t *testing.T) {
	base := startInProcess(t, testEnv, "--data-dir", t.TempDir()).Base
	if st, body := jwtAuth(t, base, "", "", "service=container_registry&scope=repository:a/b:pull"); st != 404 ||
		body != `{"errors":[{"code":"UNAVAILABLE","message":"registry not enabled"}],"http_status":404}` {
		t.Errorf("/jwt/auth without --registry-url = %d %s", st, body)
	}
}

func TestRegistryFlags(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys", "signing.key")
	env := map[string]string{"KEYGATE_PASSWORD_ITERATIONS": "1000", "KEYGATE_REGISTRY_KEY_FILE": keyFile}
	out, errOut, err := runCLI(t, env, "", "admin", "registry", "config", "--data-dir", filepath.Join(dir, "data"))
	if err != nil {
		t.Fatalf("admin registry config: %v %s", err, errOut)
	}
	if !strings.Contains(out, "issuer: keygate-issuer\n") || !strings.Contains(out, "rootcertbundle: "+filepath.Join(dir, "keys", "token.crt")+"\n") ||
		!strings.Contains(out, "realm: http://127.0.0.1:8080/jwt/auth\n") {
		t.Errorf("admin registry config = %s", out)
	}
	if _, err := os.Stat(keyFile); err != nil {
		t.Errorf("KEYGATE_REGISTRY_KEY_FILE not created: %v", err)
	}
	if _, err := os.Stat(instance.RegistryKeyFile(filepath.Join(dir, "data"))); err == nil {
		t.Error("the default key was created although KEYGATE_REGISTRY_KEY_FILE names another")
	}
	// A certificate for another key is refused at start.
	other := filepath.Join(dir, "other", "token.key")
	if _, _, err := runCLI(t, env, "", "admin", "registry", "config", "--registry-key-file", other); err != nil {
		t.Fatal(err)
	}
	cert, _ := os.ReadFile(filepath.Join(dir, "other", "token.crt"))
	if err := os.WriteFile(filepath.Join(dir, "keys", "token.crt"), cert, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, env, "", "serve", "--addr", freePort(t), "--data-dir", filepath.Join(dir, "data"), "--registry-url", "registry.test"); err == nil ||
		!strings.Contains(err.Error(), "not for the signing key") {
		t.Errorf("serve with a mismatched certificate: %v, want a refusal", err)
	}
	for _, bad := range []string{"https://registry.test/path", "https://user:pw@registry.test", "://"} {
		if _, _, err := runCLI(t, testEnv, "", "serve", "--addr", freePort(t), "--data-dir", t.TempDir(), "--registry-url", bad); err == nil || !strings.Contains(err.Error(), "--registry-url") {
			t.Errorf("serve --registry-url %q: %v, want a refusal", bad, err)
		}
	}
}

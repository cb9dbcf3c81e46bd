package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygatetest"
)

// selfSigned writes a certificate and key for 127.0.0.1 and returns their paths and a
// pool that trusts the certificate.
func selfSigned(t *testing.T) (string, string, *x509.CertPool) {
	t.Helper()
	ss := keygatetest.NewSelfSigned(t)
	dir := t.TempDir()
	cert, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, ss.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, ss.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, keyFile, ss.Pool
}

// TestServeTLS: --tls-cert/--tls-key serve HTTPS directly with HSTS, and SIGTERM (context
// cancellation here) stops the server gracefully.
func TestServeTLS(t *testing.T) {
	cert, key, pool := selfSigned(t)
	srv := startInProcess(t, testEnv, "--data-dir", t.TempDir(), "--tls-cert", cert, "--tls-key", key)
	if !strings.Contains(srv.Listening, "https://") {
		t.Errorf("external URL is not https: %s", srv.Listening)
	}
	addr := srv.Addr
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + addr + "/-/health")
	if err != nil {
		t.Fatalf("HTTPS health: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("HTTPS health = %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	if resp, err := http.Get("http://" + addr + "/-/health"); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP answered 200 on the TLS port")
	}
	if err := srv.Stop(); err != nil {
		t.Errorf("serve after shutdown: %v", err)
	}
	// Only one of the pair is an error.
	if _, _, err := runCLI(t, testEnv, "", "serve", "--addr", freePort(t), "--data-dir", t.TempDir(), "--tls-cert", cert); err == nil {
		t.Error("--tls-cert without --tls-key started")
	}
}

package forwardauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

// BenchmarkGateWarm is one /-/gate decision inside Keygate (no network) with every cache
// warm: token verification, the ledger service's type and scope checks, and the
// membership of acme/billing/ledger resolved through the group tree; for the
// fine-grained token, its permission on the project matched through the ancestors.
func BenchmarkGateWarm(b *testing.B) {
	for _, bc := range []struct{ name, uri, tok string }{
		{"member_of", "/api/invoices", "dev"},
		{"fine_grained", "/api/invoices", "fine"},
		{"anonymous", "/status", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := keygatetest.NewServerWith(b, keygatetest.Options{GateFile: "testdata/gate.yaml"})
			w := keygatetest.NewGateWorld(b, srv)
			w.Tokens["fine"] = w.FineToken(b, "dev", service.GranularRequest{
				Access: keygate.AccessSelectedMemberships, Permissions: []string{"read_project"}, GroupIDs: []int64{w.Acme.ID}})
			req := httptest.NewRequest("GET", "/-/gate", nil)
			req.Header.Set("X-Forwarded-Method", "GET")
			req.Header.Set("X-Forwarded-Uri", bc.uri)
			req.Header.Set("X-Forwarded-Host", "billing.internal")
			if bc.tok != "" {
				req.Header.Set("Authorization", "Bearer "+w.Tokens[bc.tok])
			}
			rec := httptest.NewRecorder()
			srv.Gate.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("warm-up = %d %s", rec.Code, rec.Body)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rec := httptest.NewRecorder()
				srv.Gate.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkGateHTTP is a warm /-/gate decision through Keygate's whole HTTP stack
// (middleware, access log, metrics) over loopback TCP with a kept-alive connection: the
// server's part of what nginx pays per request, plus this client's.
func BenchmarkGateHTTP(b *testing.B) {
	srv := keygatetest.NewServerWith(b, keygatetest.Options{GateFile: "testdata/gate.yaml"})
	w := keygatetest.NewGateWorld(b, srv)
	req, err := http.NewRequest("GET", srv.URL+"/-/gate", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("X-Original-Method", "GET")
	req.Header.Set("X-Original-Uri", "/api/invoices")
	req.Header.Set("Private-Token", w.Tokens["dev"])
	client := &http.Client{}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("%v %v", resp, err)
		}
		resp.Body.Close()
	}
}

package forwardauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/store"
)

// auditCount counts name's events about targetID: the gate writes them before its
// answer completes.
func auditCount(t *testing.T, srv *keygatetest.Server, name string, targetID int64, want int) {
	t.Helper()
	evs, _, err := srv.Service.AuditEvents(context.Background(), authz.SystemSubject(), store.AuditFilter{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.TargetID == targetID {
			n++
			if e.IP == "" || e.Fingerprint == "" && e.TargetType == keygate.AuditTargetToken {
				t.Errorf("%s event %+v lacks the address or the token's fingerprint", name, e)
			}
		}
	}
	if n != want {
		t.Fatalf("%s events about %d = %d, want %d", name, targetID, n, want)
	}
}

// TestGateAudit: a token's first use through a service is audited once; its denials are
// audited at most once a minute per service (on the service clock).
func TestGateAudit(t *testing.T) {
	srv, w := newGateServer(t, keygatetest.Options{})
	dev, sam := w.TokenIDs["dev"], w.TokenIDs["sam"]
	for range 3 {
		if a := ask(t, srv, "GET", "/api/x", bearer(w.Tokens["dev"])); a.status != 200 {
			t.Fatalf("dev through the gate = %d", a.status)
		}
	}
	auditCount(t, srv, keygate.AuditGateFirstUse, dev, 1)
	for range 3 {
		if a := ask(t, srv, "GET", "/api/x", bearer(w.Tokens["sam"])); a.status != 403 {
			t.Fatalf("non-member through the gate = %d, want 403", a.status)
		}
	}
	auditCount(t, srv, keygate.AuditGateDenied, sam, 1)
	srv.Clock.Advance(time.Minute)
	ask(t, srv, "GET", "/api/x", bearer(w.Tokens["sam"]))
	auditCount(t, srv, keygate.AuditGateDenied, sam, 2)
	auditCount(t, srv, keygate.AuditGateFirstUse, sam, 0)
}

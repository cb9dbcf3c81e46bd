package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

// TestFailedAuthThrottling: 30 failures within a minute from one address get it 429 with
// Retry-After for an hour, valid token or not (DESIGN §1.1). Loopback is exempt by
// default, so this server counts it.
func TestFailedAuthThrottling(t *testing.T) {
	srv := keygatetest.NewServerWith(t, keygatetest.Options{Ban: &service.BanConfig{MaxRetry: 30, FindTime: time.Minute, BanTime: time.Hour}})
	get := func(token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.API+"/user", nil)
		req.Header.Set("PRIVATE-TOKEN", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := range 30 {
		if resp := get(forged()); resp.StatusCode != 401 {
			t.Fatalf("failure %d: status %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp := get(srv.RootToken)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3601" {
		t.Fatalf("banned address = %d Retry-After %q, want 429 and 3601", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	srv.Clock.Advance(time.Hour)
	if resp := get(srv.RootToken); resp.StatusCode != 200 {
		t.Fatalf("after the ban = %d, want 200", resp.StatusCode)
	}
}

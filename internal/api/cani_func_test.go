package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/api"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

// TestCanIFunc: API.CanI, what the web UI's form asks, answers as GET /keygate/can_i
// answers the same token.
func TestCanIFunc(t *testing.T) {
	srv := keygatetest.NewServer(t)
	ctx := context.Background()
	exp := keygate.DateOf(srv.Clock.Now()).AddDays(10)
	a := api.New(api.Config{Service: srv.Service})
	for _, scopes := range []keygate.Scopes{{keygate.ScopeReadUser}, {keygate.ScopeAPI}, {keygate.ScopeReadAPI}} {
		iss, err := srv.Service.CreatePersonalToken(ctx, authz.SystemSubject(), 1, service.TokenInput{Name: "t", Scopes: scopes, ExpiresAt: &exp})
		if err != nil {
			t.Fatal(err)
		}
		p, err := srv.Service.TokenPrincipal(ctx, authz.SystemSubject(), iss.Token.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []struct{ method, path string }{
			{"GET", "/api/v4/user"}, {"POST", "/api/v4/projects"}, {"GET", "/api/v4/projects/999"},
			{"DELETE", "/api/v4/nothing/here"}, {"PUT", "/api/v4/application/settings"},
		} {
			got, err := a.CanI(ctx, p, q.method, q.path)
			if err != nil {
				t.Fatalf("CanI(%s %s) = %v", q.method, q.path, err)
			}
			short, err := a.CanI(ctx, p, q.method, q.path[len(api.Prefix):])
			if err != nil || !reflect.DeepEqual(short, got) {
				t.Errorf("CanI without the prefix = %+v, %v; want %+v", short, err, got)
			}
			req, _ := http.NewRequest("GET", srv.API+"/keygate/can_i?"+url.Values{"method": {q.method}, "path": {q.path}}.Encode(), nil)
			req.Header.Set("PRIVATE-TOKEN", iss.Secret.Reveal())
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var want api.CanIAnswer
			err = json.NewDecoder(resp.Body).Decode(&want)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%v: CanI(%s %s) = %+v, GET /keygate/can_i = %+v", scopes, q.method, q.path, got, want)
			}
		}
	}
	iss, _ := srv.Service.CreatePersonalToken(ctx, authz.SystemSubject(), 1, service.TokenInput{Name: "t", Scopes: keygate.Scopes{keygate.ScopeAPI}, ExpiresAt: &exp})
	p, _ := srv.Service.TokenPrincipal(ctx, authz.SystemSubject(), iss.Token.ID)
	if _, err := a.CanI(ctx, p, "GET", "user"); err == nil {
		t.Error("CanI with a relative path: no error")
	}
}

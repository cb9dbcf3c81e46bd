package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/instance"
	"github.com/keygate/keygate/internal/service"
)

// TestAdminTokenSuggest: uses recorded by one process (a server) are read by `keygate
// admin token suggest` in another, which prints the least grant and the unused scopes.
func TestAdminTokenSuggest(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	in, err := instance.Open(ctx, instance.Config{DataDir: dir, PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := in.Service.CreatePersonalToken(ctx, authz.SystemSubject(), 1, service.TokenInput{Name: "wide", Scopes: keygate.Scopes{keygate.ScopeAPI, keygate.ScopeReadUser}})
	if err != nil {
		t.Fatal(err)
	}
	in.Service.RecordPermissionUse(iss.Token.ID, "GET /user", authz.Boundary{Kind: authz.BoundaryUser, Found: true})
	in.Service.RecordPermissionUse(iss.Token.ID, "GET /projects/{id}/members", authz.Boundary{Kind: authz.BoundaryProject, Found: true, ID: 42})
	if err := in.Close(ctx); err != nil { // flushes the pending uses
		t.Fatal(err)
	}
	id := strconv.FormatInt(iss.Token.ID, 10)
	out, errOut, err := runCLI(t, testEnv, "", "admin", "token", "suggest", "--data-dir", dir, "--id", id, "--days", "7")
	if err != nil {
		t.Fatalf("suggest: %v %s", err, errOut)
	}
	var rep struct {
		TokenID        int64 `json:"token_id"`
		GranularScopes []struct {
			Access      string   `json:"access"`
			Permissions []string `json:"permissions"`
			ProjectIDs  []int64  `json:"project_ids"`
		} `json:"granular_scopes"`
		UnusedScopes []string `json:"unused_scopes"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	g := rep.GranularScopes
	if rep.TokenID != iss.Token.ID || len(g) != 2 || g[0].Access != "user" || g[0].Permissions[0] != "read_user" ||
		g[1].Access != "selected_memberships" || g[1].Permissions[0] != "read_member" || g[1].ProjectIDs[0] != 42 || len(rep.UnusedScopes) != 0 {
		t.Errorf("suggest = %s", out)
	}
	for _, args := range [][]string{{"--id", "0"}, {"--id", id, "--days", "0"}, {"--id", "999"}} {
		if _, _, err := runCLI(t, testEnv, "", append([]string{"admin", "token", "suggest", "--data-dir", dir}, args...)...); err == nil {
			t.Errorf("suggest %v succeeded, want an error", args)
		}
	}
}

// TestAdminTokenCreateGranular: `admin token create --granular-scopes` issues a
// fine-grained token; exactly one of --scopes and --granular-scopes is accepted.
func TestAdminTokenCreateGranular(t *testing.T) {
	dir := t.TempDir()
	out, errOut, err := runCLI(t, testEnv, "", "admin", "token", "create", "--data-dir", dir, "--user", "root", "--name", "fine",
		"--granular-scopes", `[{"access":"user","permissions":["read_user"]},{"access":"instance","permissions":["read_application_setting"]}]`)
	if err != nil || !strings.HasPrefix(out, "glpat-") {
		t.Fatalf("create = %q %v %s", out, err, errOut)
	}
	out, _, err = runCLI(t, testEnv, "", "admin", "token", "list", "--data-dir", dir, "--format", "json")
	var list []struct {
		Name           string   `json:"name"`
		Granular       bool     `json:"granular"`
		Scopes         []string `json:"scopes"`
		GranularScopes []struct {
			Access string `json:"access"`
		} `json:"granular_scopes"`
	}
	if err != nil || json.Unmarshal([]byte(out), &list) != nil {
		t.Fatalf("list = %s (%v)", out, err)
	}
	found := false
	for _, tok := range list {
		if tok.Name == "fine" {
			found = tok.Granular && len(tok.Scopes) == 1 && tok.Scopes[0] == "granular" && len(tok.GranularScopes) == 2 && tok.GranularScopes[1].Access == "instance"
		}
	}
	if !found {
		t.Errorf("list = %s, want the fine-grained token with its grant", out)
	}
	for _, args := range [][]string{
		{"--scopes", "api", "--granular-scopes", `[{"access":"user","permissions":["read_user"]}]`},
		{},
		{"--granular-scopes", `{"access":"user"}`},
		{"--granular-scopes", `[{"access":"user","permissions":["read_everything"]}]`},
	} {
		base := []string{"admin", "token", "create", "--data-dir", dir, "--user", "root", "--name", "bad"}
		if _, _, err := runCLI(t, testEnv, "", append(base, args...)...); err == nil {
			t.Errorf("create %v succeeded, want an error", args)
		}
	}
}

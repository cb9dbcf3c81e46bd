package api_test

import (
	"encoding/json"
	"net/http"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/service"
	"github.com/keygate/keygate/internal/store"
)

func serviceCred(raw string) service.Credential { return service.Credential{Token: raw} }

func mustGenerate() string {
	t, err := secret.Generate("glpat-")
	if err != nil {
		panic(err)
	}
	return t.Reveal()
}

func storeFilterUser(id int64, state string) store.TokenFilter {
	return store.TokenFilter{UserID: id, State: state}
}

func serviceInput(name string, impersonation bool, exp *keygate.Date) service.TokenInput {
	return service.TokenInput{Name: name, Scopes: keygate.Scopes{keygate.ScopeAPI}, Impersonation: impersonation, ExpiresAt: exp}
}

func decodeJSON(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

package api_test

import (
	"github.com/keygate/keygate/internal/secret"
	"github.com/keygate/keygate/internal/service"
)

func serviceCred(raw string) service.Credential { return service.Credential{Token: raw} }

func mustGenerate() string {
	t, err := secret.Generate("glpat-")
	if err != nil {
		panic(err)
	}
	return t.Reveal()
}

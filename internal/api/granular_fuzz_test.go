package api

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzGranularInput: any body gives granular_scopes requests or a 4xx, never a panic,
// and every accepted request has a known access value and positive ids.
func FuzzGranularInput(f *testing.F) {
	for _, seed := range []string{
		`{"granular_scopes":[{"access":"user","permissions":["read_user"]}]}`,
		`{"granular_scopes":[{"access":"selected_memberships","permissions":"read_project,read_member","project_ids":"1,2","group_ids":[3]}]}`,
		`{"granular_scopes":[{"access":"everything","permissions":["read_user"]}]}`,
		`{"granular_scopes":{"access":"user"}}`,
		`{"granular_scopes":[]}`,
		`{"granular_scopes":"[{\"access\":\"user\",\"permissions\":[\"read_user\"]}]"}`,
		`{"granular_scopes":[{"access":"user","permissions":[1]}]}`,
		`{"granular_scopes":[{"access":"selected_memberships","permissions":["x"],"project_ids":[-1]}]}`,
		`{"granular_scopes":[null]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/api/v4/user/personal_access_tokens", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		p, err := readParams(r)
		if err != nil {
			return
		}
		reqs, _, err := granularInput(p)
		if err != nil {
			if e, ok := err.(*apiError); !ok || e.status != 400 {
				t.Fatalf("granularInput(%q) error %v, want a 400", body, err)
			}
			return
		}
		for _, rq := range reqs {
			if rq.Access == "" {
				t.Fatalf("granularInput(%q) accepted an empty access", body)
			}
			for _, id := range append(rq.ProjectIDs, rq.GroupIDs...) {
				if id <= 0 {
					t.Fatalf("granularInput(%q) accepted id %d", body, id)
				}
			}
		}
	})
}

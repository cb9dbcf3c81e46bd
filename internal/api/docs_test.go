package api_test

import (
	"os"
	"testing"

	"github.com/keygate/keygate/internal/api"
)

// TestAPIDocs keeps docs/api.md equal to what the route table renders.
func TestAPIDocs(t *testing.T) {
	const path = "../../docs/api.md"
	got := api.New(api.Config{}).Markdown()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil || string(want) != got {
		t.Errorf("docs/api.md is out of date with the route table (err %v); run go test ./internal/api -run TestAPIDocs -update", err)
	}
}

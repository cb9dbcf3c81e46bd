package gate_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPublicPackageDependsOnStandardLibraryOnly: services import gate without pulling in
// Keygate's internals or any module.
func TestPublicPackageDependsOnStandardLibraryOnly(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found in PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/keygate/keygate/gate").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for line := range strings.Lines(string(out)) {
		if p := strings.TrimSpace(line); p != "" && p != "github.com/keygate/keygate/gate" {
			t.Errorf("gate depends on %s, want the standard library only", p)
		}
	}
}

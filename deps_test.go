package keygate_test

import (
	"os/exec"
	"strings"
	"testing"
)

// forbiddenDeps are packages the pure core must never reach, directly or transitively
// (DESIGN §2): I/O belongs at the edge.
var forbiddenDeps = []string{"net/http", "database/sql", "html/template", "os/exec", "net"}

func TestCoreDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found in PATH")
	}
	for _, pkg := range []string{
		"github.com/keygate/keygate",
		"github.com/keygate/keygate/internal/authz",
		"github.com/keygate/keygate/internal/secret",
	} {
		t.Run(pkg, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
			if err != nil {
				var stderr string
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = string(ee.Stderr)
				}
				t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr)
			}
			deps := map[string]bool{}
			for line := range strings.Lines(string(out)) {
				deps[strings.TrimSpace(line)] = true
			}
			if !deps[pkg] {
				t.Fatalf("go list -deps %s does not list the package itself; output:\n%s", pkg, out)
			}
			for _, bad := range forbiddenDeps {
				if deps[bad] {
					t.Errorf("go list -deps %s includes %s, want no dependency on it", pkg, bad)
				}
			}
		})
	}
}

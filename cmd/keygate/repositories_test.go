package main

import (
	"maps"
	"os"
	"path/filepath"
	"testing"
)

// TestRepositoriesDir: --repositories-dir and KEYGATE_REPOSITORIES_DIR place the Git
// repositories (admin and serve share the flag); the default is <data-dir>/repositories.
func TestRepositoriesDir(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(repos string) (env map[string]string, args []string)
		byDef bool // the default location under the data dir
	}{
		{"default", func(string) (map[string]string, []string) { return nil, nil }, true},
		{"flag", func(r string) (map[string]string, []string) { return nil, []string{"--repositories-dir", r} }, false},
		{"environment", func(r string) (map[string]string, []string) {
			return map[string]string{"KEYGATE_REPOSITORIES_DIR": r}, nil
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, repos := t.TempDir(), filepath.Join(t.TempDir(), "git")
			extraEnv, extraArgs := tc.setup(repos)
			env := maps.Clone(testEnv)
			maps.Copy(env, extraEnv)
			args := append([]string{"admin", "user", "list", "--data-dir", data}, extraArgs...)
			if _, errOut, err := runCLI(t, env, "", args...); err != nil {
				t.Fatalf("keygate %v: %v %s", args, err, errOut)
			}
			want := repos
			if tc.byDef {
				want = filepath.Join(data, "repositories")
			}
			if _, err := os.Stat(filepath.Join(want, ".keygate", "hooks", "pre-receive")); err != nil {
				t.Errorf("keygate %v: repositories not set up in %s: %v", args, want, err)
			}
		})
	}
}

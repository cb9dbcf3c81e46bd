package repo

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// preReceive refuses force pushes to the refs named in KEYGATE_FORCE_PUSH_PROTECTED:
// the one branch-protection rule that needs the pushed objects (is the old tip an
// ancestor of the new one?). Every other rule is judged from the ref-update commands
// before the pack is accepted. Its output reaches the client as "remote: GitLab: …" and
// the refs as "pre-receive hook declined", as GitLab's own hook does.
const preReceive = `#!/bin/sh
# Written by Keygate at every start; edits are lost.
status=0
while read -r old new ref; do
	[ "$status" = 0 ] || continue
	for p in $KEYGATE_FORCE_PUSH_PROTECTED; do
		[ "$ref" = "$p" ] || continue
		case $old in *[!0]*) ;; *) continue ;; esac
		case $new in *[!0]*) ;; *) continue ;; esac
		if ! git merge-base --is-ancestor "$old" "$new" 2>/dev/null; then
			echo "GitLab: You are not allowed to force push code to a protected branch on this project."
			status=1
		fi
	done
done
exit $status
`

// writeHooks installs Keygate's hooks, replacing older versions atomically so that a
// push running meanwhile sees either the old or the new script, never half of one.
func writeHooks(dir string) error {
	dst := filepath.Join(dir, "pre-receive")
	if b, err := os.ReadFile(dst); err == nil && string(b) == preReceive {
		return nil
	}
	tmp, err := os.CreateTemp(dir, ".pre-receive-*")
	if err != nil {
		return fmt.Errorf("repo: write hooks: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(preReceive); err != nil {
		tmp.Close()
		return fmt.Errorf("repo: write hooks: %w", err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return fmt.Errorf("repo: write hooks: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("repo: write hooks: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("repo: write hooks: %w", err)
	}
	return nil
}

// backendConfig is the configuration git http-backend and the packs it runs get, in
// place of the ignored system and global files: partial clone and fetching any reachable
// object (GitLab enables both), and push options (git push -o fails against a server
// that does not advertise them).
var backendConfig = [][2]string{
	{"uploadpack.allowFilter", "true"},
	{"uploadpack.allowAnySHA1InWant", "true"},
	{"receive.advertisePushOptions", "true"},
}

// BackendEnv is the environment for git http-backend on these repositories: the base
// environment, Keygate's configuration and hooks, and the refs whose force pushes the
// pre-receive hook refuses.
func (d *Disk) BackendEnv(forcePushProtected []string) []string {
	env := d.Env()
	cfg := append(append([][2]string(nil), backendConfig...), [2]string{"core.hooksPath", d.hooks})
	env = append(env, "GIT_CONFIG_COUNT="+strconv.Itoa(len(cfg)))
	for i, kv := range cfg {
		n := strconv.Itoa(i)
		env = append(env, "GIT_CONFIG_KEY_"+n+"="+kv[0], "GIT_CONFIG_VALUE_"+n+"="+kv[1])
	}
	return append(env, "KEYGATE_FORCE_PUSH_PROTECTED="+strings.Join(forcePushProtected, " "))
}

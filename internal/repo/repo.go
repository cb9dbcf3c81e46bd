package repo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/keygate/keygate"
)

// Errors the operations classify.
var (
	// ErrNotFound: no such repository, revision, tree or file.
	ErrNotFound = errors.New("repo: not found")
	// ErrExists: a repository (or namespace directory) already sits at the target path.
	ErrExists = errors.New("repo: already exists")
	// ErrInvalidPath: a full path that is not a valid namespace/project path.
	ErrInvalidPath = errors.New("repo: invalid path")
)

// Store is what the service needs of the repositories: their lifecycle, following the
// projects and namespaces they belong to, and the reads behind the repository REST API.
// Paths are full paths as GitLab writes them ("group/sub/project"), without ".git".
type Store interface {
	// Create makes an empty bare repository whose HEAD names defaultBranch. ErrExists
	// when one is already there.
	Create(ctx context.Context, fullPath, defaultBranch string) error
	// Remove deletes a project's repository; a missing one is not an error.
	Remove(ctx context.Context, fullPath string) error
	// Move renames a project's repository. It is idempotent (from missing and to present
	// counts as done) so it may run inside a transaction that is retried.
	Move(ctx context.Context, from, to string) error
	// RemoveNamespace deletes every repository below a namespace.
	RemoveNamespace(ctx context.Context, fullPath string) error
	// MoveNamespace renames a namespace's directory with every repository below it;
	// idempotent like Move.
	MoveNamespace(ctx context.Context, from, to string) error
	// SetDefaultBranch points HEAD at refs/heads/branch.
	SetDefaultBranch(ctx context.Context, fullPath, branch string) error
	// Exists reports whether the project's repository is on disk.
	Exists(fullPath string) bool

	// Branches lists refs/heads with their tip commits, by name.
	Branches(ctx context.Context, fullPath string) ([]Branch, error)
	// HasBranches reports whether the repository has any branch.
	HasBranches(ctx context.Context, fullPath string) (bool, error)
	// MergedInto names the branches whose tips are reachable from branch.
	MergedInto(ctx context.Context, fullPath, branch string) (map[string]bool, error)
	// ResolveCommit turns a revision (branch, tag, SHA) into a commit ID; ErrNotFound
	// when it names no commit.
	ResolveCommit(ctx context.Context, fullPath, rev string) (string, error)
	// Tree lists the tree at dir ("" is the root) of a commit; ErrNotFound when dir is
	// not a tree there.
	Tree(ctx context.Context, fullPath, commit, dir string, recursive bool) ([]TreeEntry, error)
	// Stat describes the entry at file in a commit; ErrNotFound when there is none.
	Stat(ctx context.Context, fullPath, commit, file string) (Entry, error)
	// Open streams a blob's content; the caller closes it.
	Open(ctx context.Context, fullPath, blobID string) (io.ReadCloser, error)
	// LastCommit is the last commit reachable from commit that touched file.
	LastCommit(ctx context.Context, fullPath, commit, file string) (string, error)
}

// Disk is the Store on a local (or shared) directory.
type Disk struct {
	root  string
	git   string
	hooks string
	env   []string
}

var _ Store = (*Disk)(nil)

// Keygate's own directories under the root. Namespace and project paths never start
// with '.', so these never collide with a repository.
const (
	tmpDir   = ".tmp"
	hooksDir = ".keygate/hooks"
)

// New opens (creating if needed) the repositories directory root. git is the git binary;
// "" looks it up in PATH.
func New(root, git string) (*Disk, error) {
	if root == "" {
		return nil, errors.New("repo: no repositories directory")
	}
	if git == "" {
		p, err := exec.LookPath("git")
		if err != nil {
			return nil, fmt.Errorf("repo: git is needed for repositories but was not found in PATH: %w", err)
		}
		git = p
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("repo: repositories directory: %w", err)
	}
	d := &Disk{root: abs, git: git, hooks: filepath.Join(abs, filepath.FromSlash(hooksDir))}
	d.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_LITERAL_PATHSPECS=1",
		"LC_ALL=C",
	}
	for _, dir := range []string{abs, filepath.Join(abs, tmpDir), d.hooks} {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("repo: create %s: %w", dir, err)
		}
	}
	if err := writeHooks(d.hooks); err != nil {
		return nil, err
	}
	return d, nil
}

// Root is the repositories directory.
func (d *Disk) Root() string { return d.root }

// Git is the git binary the repositories are served with.
func (d *Disk) Git() string { return d.git }

// Path is the directory of a project's repository ("" for an invalid full path).
func (d *Disk) Path(fullPath string) string {
	p, err := d.dir(fullPath, ".git")
	if err != nil {
		return ""
	}
	return p
}

// Exists reports whether the project's repository is on disk.
func (d *Disk) Exists(fullPath string) bool {
	p := d.Path(fullPath)
	if p == "" {
		return false
	}
	st, err := os.Stat(filepath.Join(p, "HEAD"))
	return err == nil && st.Mode().IsRegular()
}

// dir maps a full path (plus suffix on its last segment) below the root, refusing
// anything that is not a sequence of valid path segments.
func (d *Disk) dir(fullPath, suffix string) (string, error) {
	segs := strings.Split(fullPath, "/")
	for _, s := range segs {
		if !keygate.ValidPath(s) {
			return "", fmt.Errorf("%w: %q", ErrInvalidPath, fullPath)
		}
	}
	return filepath.Join(d.root, filepath.FromSlash(fullPath)) + suffix, nil
}

// Create makes an empty bare repository. It is built under the root's temporary
// directory and renamed into place, so the live path never holds half a repository and
// two creators cannot both succeed.
func (d *Disk) Create(ctx context.Context, fullPath, defaultBranch string) error {
	dst, err := d.dir(fullPath, ".git")
	if err != nil {
		return err
	}
	if defaultBranch == "" {
		defaultBranch = "main"
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("%w: %s", ErrExists, fullPath)
	}
	tmp, err := os.MkdirTemp(filepath.Join(d.root, tmpDir), "new-*.git")
	if err != nil {
		return fmt.Errorf("repo: create %s: %w", fullPath, err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if _, err := d.run(ctx, "", nil, "init", "--bare", "--quiet", "--template=", "--initial-branch="+defaultBranch, tmp); err != nil {
		return fmt.Errorf("repo: create %s: %w", fullPath, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return fmt.Errorf("repo: create %s: %w", fullPath, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		if isExist(err) {
			return fmt.Errorf("%w: %s", ErrExists, fullPath)
		}
		return fmt.Errorf("repo: create %s: %w", fullPath, err)
	}
	return nil
}

// Remove deletes a project's repository. The directory is first renamed away so that a
// failed deletion never leaves a damaged repository at the live path.
func (d *Disk) Remove(_ context.Context, fullPath string) error {
	p, err := d.dir(fullPath, ".git")
	if err != nil {
		return err
	}
	return d.discard(p)
}

// RemoveNamespace deletes a namespace's directory and every repository below it.
func (d *Disk) RemoveNamespace(_ context.Context, fullPath string) error {
	p, err := d.dir(fullPath, "")
	if err != nil {
		return err
	}
	return d.discard(p)
}

func (d *Disk) discard(p string) error {
	trash := filepath.Join(d.root, tmpDir, "deleted-"+randomName())
	if err := os.Rename(p, trash); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("repo: remove %s: %w", p, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("repo: remove %s: %w", p, err)
	}
	return nil
}

// Move renames a project's repository.
func (d *Disk) Move(_ context.Context, from, to string) error {
	src, err := d.dir(from, ".git")
	if err != nil {
		return err
	}
	dst, err := d.dir(to, ".git")
	if err != nil {
		return err
	}
	return rename(src, dst)
}

// MoveNamespace renames a namespace's directory.
func (d *Disk) MoveNamespace(_ context.Context, from, to string) error {
	src, err := d.dir(from, "")
	if err != nil {
		return err
	}
	dst, err := d.dir(to, "")
	if err != nil {
		return err
	}
	return rename(src, dst)
}

// rename moves src to dst unless that is already done. A case-only rename ("Proj" to
// "proj") is a plain rename on case-sensitive file systems.
func rename(src, dst string) error {
	if src == dst {
		return nil
	}
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		return nil // nothing to move (no repository yet), or moved by an earlier attempt
	}
	if !strings.EqualFold(src, dst) {
		if _, err := os.Lstat(dst); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, dst)
		}
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return fmt.Errorf("repo: move to %s: %w", dst, err)
	}
	if err := os.Rename(src, dst); err != nil {
		if isExist(err) {
			return fmt.Errorf("%w: %s", ErrExists, dst)
		}
		return fmt.Errorf("repo: move %s to %s: %w", src, dst, err)
	}
	return nil
}

// SetDefaultBranch points HEAD at refs/heads/branch.
func (d *Disk) SetDefaultBranch(ctx context.Context, fullPath, branch string) error {
	p, err := d.dir(fullPath, ".git")
	if err != nil {
		return err
	}
	if !validBranch(branch) {
		return fmt.Errorf("repo: invalid branch name %q", branch)
	}
	if _, err := d.run(ctx, p, nil, "symbolic-ref", "HEAD", "refs/heads/"+branch); err != nil {
		return fmt.Errorf("repo: set default branch of %s: %w", fullPath, err)
	}
	return nil
}

// validBranch is a cheap subset of git check-ref-format: enough to keep a name from
// being read as an option or escaping refs/heads.
func validBranch(b string) bool {
	return b != "" && !strings.HasPrefix(b, "-") && !strings.Contains(b, "..") &&
		!strings.ContainsAny(b, " ~^:?*[\\\x7f") && !strings.ContainsFunc(b, func(r rune) bool { return r < 0x20 }) &&
		!strings.HasSuffix(b, ".lock") && !strings.HasSuffix(b, "/") && !strings.HasPrefix(b, "/")
}

// Env is the environment every git process of these repositories runs with.
func (d *Disk) Env() []string { return append([]string(nil), d.env...) }

// run executes git in repository dir ("" for none) and returns its standard output.
// A failure carries git's standard error, which never holds a credential: Keygate
// passes none to git.
func (d *Disk) run(ctx context.Context, dir string, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, d.git, args...)
	cmd.Env = d.Env()
	if dir != "" {
		cmd.Dir = dir
		cmd.Env = append(cmd.Env, "GIT_DIR="+dir)
	}
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &gitError{args: args, err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return stdout.Bytes(), nil
}

// gitError is a failed git command.
type gitError struct {
	args   []string
	err    error
	stderr string
}

func (e *gitError) Error() string {
	name := "git"
	if len(e.args) > 0 {
		name += " " + e.args[0]
	}
	if e.stderr == "" {
		return name + ": " + e.err.Error()
	}
	return name + ": " + e.err.Error() + ": " + e.stderr
}

func (e *gitError) Unwrap() error { return e.err }

// isExist: rename(2) onto a non-empty directory fails with ENOTEMPTY or EEXIST, both of
// which Go reports as fs.ErrExist.
func isExist(err error) bool { return errors.Is(err, fs.ErrExist) }

func randomName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

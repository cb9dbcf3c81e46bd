package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"time"
)

// Commit is what the repository API shows of a commit.
type Commit struct {
	ID             string
	ParentIDs      []string
	Message        string // the full message as stored
	AuthorName     string
	AuthorEmail    string
	AuthoredAt     time.Time // in the author's time zone
	CommitterName  string
	CommitterEmail string
	CommittedAt    time.Time
	// Trailers are the message's "Key: value" trailers in order.
	Trailers [][2]string
}

// Title is the first line of the message (GitLab's full_title).
func (c Commit) Title() string {
	t, _, _ := strings.Cut(strings.TrimLeft(c.Message, "\n"), "\n")
	return strings.TrimRight(t, "\r")
}

// Branch is a branch and its tip.
type Branch struct {
	Name   string
	Commit Commit
}

// TreeEntry is one entry of a tree listing.
type TreeEntry struct {
	ID   string
	Name string
	Type string // "tree", "blob" or "commit" (a submodule)
	Path string // from the repository root
	Mode string // "040000", "100644", "100755", "120000", "160000"
}

// Entry is one object at a path of a commit.
type Entry struct {
	ID   string
	Type string
	Mode string
	Size int64
}

// commitFormat is for-each-ref's format for a branch and its commit: fields separated
// by NUL, as a message may hold anything else.
var commitFields = []string{
	"%(refname:strip=2)", "%(objectname)", "%(parent)", "%(authorname)", "%(authoremail:trim)",
	"%(authordate:iso-strict)", "%(committername)", "%(committeremail:trim)",
	"%(committerdate:iso-strict)", "%(trailers:only,unfold)", "%(contents)",
}

// Branches lists refs/heads, sorted by name.
func (d *Disk) Branches(ctx context.Context, fullPath string) ([]Branch, error) {
	p, err := d.repoDir(fullPath)
	if err != nil {
		return nil, err
	}
	format := strings.Join(commitFields, "%00") + "%00"
	out, err := d.run(ctx, p, nil, "for-each-ref", "--sort=refname", "--format="+format, "refs/heads/")
	if err != nil {
		return nil, fmt.Errorf("repo: branches of %s: %w", fullPath, err)
	}
	fields := strings.Split(string(out), "\x00")
	n := len(commitFields)
	var branches []Branch
	for i := 0; i+n <= len(fields); i += n {
		f := fields[i : i+n]
		f[0] = strings.TrimPrefix(f[0], "\n") // each record ends with a newline
		b := Branch{Name: f[0], Commit: Commit{
			ID: f[1], ParentIDs: strings.Fields(f[2]), AuthorName: f[3], AuthorEmail: f[4],
			CommitterName: f[6], CommitterEmail: f[7], Trailers: parseTrailers(f[9]), Message: f[10],
		}}
		b.Commit.AuthoredAt, _ = time.Parse(time.RFC3339, f[5])
		b.Commit.CommittedAt, _ = time.Parse(time.RFC3339, f[8])
		branches = append(branches, b)
	}
	return branches, nil
}

func parseTrailers(s string) [][2]string {
	var out [][2]string
	for line := range strings.Lines(s) {
		k, v, ok := strings.Cut(strings.TrimRight(line, "\n"), ":")
		if ok && k != "" {
			out = append(out, [2]string{k, strings.TrimSpace(v)})
		}
	}
	return out
}

// MergedInto names the branches whose tips are reachable from branch.
func (d *Disk) MergedInto(ctx context.Context, fullPath, branch string) (map[string]bool, error) {
	p, err := d.repoDir(fullPath)
	if err != nil {
		return nil, err
	}
	if !validBranch(branch) {
		return map[string]bool{}, nil
	}
	out, err := d.run(ctx, p, nil, "for-each-ref", "--format=%(refname:strip=2)", "--merged=refs/heads/"+branch, "refs/heads/")
	if err != nil {
		if isExit(err, 129) || isExit(err, 128) { // the branch does not exist
			return map[string]bool{}, nil
		}
		return nil, fmt.Errorf("repo: merged branches of %s: %w", fullPath, err)
	}
	merged := map[string]bool{}
	for name := range strings.Lines(string(out)) {
		merged[strings.TrimSuffix(name, "\n")] = true
	}
	return merged, nil
}

// HasBranches reports whether the repository has any branch (GitLab's empty_repo? is
// its negation).
func (d *Disk) HasBranches(ctx context.Context, fullPath string) (bool, error) {
	p, err := d.repoDir(fullPath)
	if err != nil {
		return false, err
	}
	out, err := d.run(ctx, p, nil, "for-each-ref", "--count=1", "--format=%(refname)", "refs/heads/")
	if err != nil {
		return false, fmt.Errorf("repo: branches of %s: %w", fullPath, err)
	}
	return len(bytes.TrimSpace(out)) > 0, nil
}

// ResolveCommit turns a revision into a commit ID.
func (d *Disk) ResolveCommit(ctx context.Context, fullPath, rev string) (string, error) {
	p, err := d.repoDir(fullPath)
	if err != nil {
		return "", err
	}
	if rev == "" || strings.HasPrefix(rev, "-") || strings.ContainsAny(rev, "\x00\n") {
		return "", ErrNotFound
	}
	out, err := d.run(ctx, p, nil, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	if err != nil {
		if isExit(err, 1) || isExit(err, 128) {
			return "", ErrNotFound
		}
		return "", fmt.Errorf("repo: resolve %q in %s: %w", rev, fullPath, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// lsFormat is ls-tree's format: mode, type, ID and size, then the path after a tab.
const lsFormat = "--format=%(objectmode) %(objecttype) %(objectname) %(objectsize)%x09%(path)"

// Tree lists the tree at dir of commit, trees first, then blobs, then submodules (GitLab's
// sorted_entries); recursive lists every level.
func (d *Disk) Tree(ctx context.Context, fullPath, commit, dir string, recursive bool) ([]TreeEntry, error) {
	p, err := d.repoDir(fullPath)
	if err != nil {
		return nil, err
	}
	dir = strings.Trim(dir, "/")
	obj := commit + "^{tree}"
	if dir != "" {
		obj = commit + ":" + dir
	}
	typ, err := d.objectType(ctx, p, obj)
	if err != nil {
		return nil, err
	}
	if typ != "tree" {
		return nil, ErrNotFound
	}
	args := []string{"ls-tree", "-z", lsFormat}
	if recursive {
		args = append(args, "-r", "-t")
	}
	out, err := d.run(ctx, p, nil, append(args, obj)...)
	if err != nil {
		return nil, fmt.Errorf("repo: tree of %s: %w", fullPath, err)
	}
	var trees, blobs, mods []TreeEntry
	for rec := range strings.SplitSeq(string(out), "\x00") {
		e, rel, ok := parseLsTree(rec)
		if !ok {
			continue
		}
		te := TreeEntry{ID: e.ID, Name: path.Base(rel), Type: e.Type, Path: path.Join(dir, rel), Mode: e.Mode}
		switch e.Type {
		case "tree":
			trees = append(trees, te)
		case "blob":
			blobs = append(blobs, te)
		default:
			mods = append(mods, te)
		}
	}
	return append(append(trees, blobs...), mods...), nil
}

func parseLsTree(rec string) (Entry, string, bool) {
	meta, rel, ok := strings.Cut(rec, "\t")
	if !ok {
		return Entry{}, "", false
	}
	f := strings.Fields(meta)
	if len(f) != 4 {
		return Entry{}, "", false
	}
	e := Entry{Mode: f[0], Type: f[1], ID: f[2]}
	e.Size, _ = strconv.ParseInt(f[3], 10, 64) // "-" for trees and submodules
	return e, rel, true
}

func (d *Disk) objectType(ctx context.Context, repoDir, obj string) (string, error) {
	out, err := d.run(ctx, repoDir, nil, "cat-file", "-t", obj)
	if err != nil {
		if isExit(err, 128) || isExit(err, 1) {
			return "", ErrNotFound
		}
		return "", fmt.Errorf("repo: object type: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Stat describes the entry at file in commit.
func (d *Disk) Stat(ctx context.Context, fullPath, commit, file string) (Entry, error) {
	p, err := d.repoDir(fullPath)
	if err != nil {
		return Entry{}, err
	}
	file = strings.Trim(file, "/")
	if file == "" {
		return Entry{}, ErrNotFound
	}
	out, err := d.run(ctx, p, nil, "ls-tree", "-z", lsFormat, commit, "--", file)
	if err != nil {
		return Entry{}, fmt.Errorf("repo: stat %s in %s: %w", file, fullPath, err)
	}
	for rec := range strings.SplitSeq(string(out), "\x00") {
		if e, rel, ok := parseLsTree(rec); ok && rel == file {
			return e, nil
		}
	}
	return Entry{}, ErrNotFound
}

// LastCommit is the last commit reachable from commit that touched file.
func (d *Disk) LastCommit(ctx context.Context, fullPath, commit, file string) (string, error) {
	p, err := d.repoDir(fullPath)
	if err != nil {
		return "", err
	}
	out, err := d.run(ctx, p, nil, "log", "-1", "--format=%H", commit, "--", strings.Trim(file, "/"))
	if err != nil {
		return "", fmt.Errorf("repo: last commit of %s in %s: %w", file, fullPath, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Open streams a blob. Closing the reader ends git if it is still writing.
func (d *Disk) Open(ctx context.Context, fullPath, blobID string) (io.ReadCloser, error) {
	p, err := d.repoDir(fullPath)
	if err != nil {
		return nil, err
	}
	if blobID == "" || strings.HasPrefix(blobID, "-") {
		return nil, ErrNotFound
	}
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, d.git, "cat-file", "blob", blobID)
	cmd.Dir, cmd.Env = p, append(d.Env(), "GIT_DIR="+p)
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("repo: open blob: %w", err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("repo: open blob: %w", err)
	}
	return &blobReader{ReadCloser: out, cmd: cmd, cancel: cancel}, nil
}

type blobReader struct {
	io.ReadCloser
	cmd    *exec.Cmd
	cancel context.CancelFunc
}

func (b *blobReader) Close() error {
	b.cancel()
	_ = b.ReadCloser.Close()
	_ = b.cmd.Wait() // killed when closed early: its status says nothing about the data read
	return nil
}

// repoDir is the directory of an existing repository.
func (d *Disk) repoDir(fullPath string) (string, error) {
	p, err := d.dir(fullPath, ".git")
	if err != nil {
		return "", err
	}
	if !d.Exists(fullPath) {
		return "", ErrNotFound
	}
	return p, nil
}

func isExit(err error, code int) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == code
}

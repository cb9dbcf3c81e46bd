package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/repo"
	"github.com/keygate/keygate/internal/store"
)

// Every project has a bare repository (DESIGN §1.1); these helpers keep it in step with
// the project's lifecycle. With Config.Repositories nil they do nothing, so services
// built without repositories (unit tests) behave as before.

// errRepositoryOnDisk is GitLab's model error when a repository already sits where a new
// project's would go (Project#check_repository_absence!).
var errRepositoryOnDisk = modelError("base", "There is already a repository with that name on disk")

// createRepository gives a newly committed project its repository. If that fails the
// project is deleted again: a project without a repository would answer every Git
// request with "does not exist yet".
func (s *Service) createRepository(ctx context.Context, p keygate.Project) error {
	if s.repos == nil {
		return nil
	}
	err := s.repos.Create(ctx, p.FullPath(), p.DefaultBranch)
	if err == nil {
		return nil
	}
	if derr := s.store.InTx(ctx, func(tx store.Tx) error { return tx.DeleteProject(ctx, p.ID) }); derr != nil {
		s.log.Error("undo project creation after its repository failed", "project_id", p.ID, "err", derr)
	}
	s.cache.invalidate()
	if errors.Is(err, repo.ErrExists) {
		return errRepositoryOnDisk
	}
	return internal("create repository", err)
}

// removeRepository deletes a deleted project's repository. The project is already gone
// from the database, so a failure is logged rather than reported: the caller's request
// did what it asked.
func (s *Service) removeRepository(ctx context.Context, p keygate.Project) {
	if s.repos == nil {
		return
	}
	if err := s.repos.Remove(ctx, p.FullPath()); err != nil {
		s.log.Error("remove the repository of a deleted project", "project_id", p.ID, "path", p.FullPath(), "err", err)
	}
}

// removeNamespaceRepositories deletes the repositories below a deleted namespace.
func (s *Service) removeNamespaceRepositories(ctx context.Context, n keygate.Namespace) {
	if s.repos == nil {
		return
	}
	if err := s.repos.RemoveNamespace(ctx, n.FullPath); err != nil {
		s.log.Error("remove the repositories of a deleted namespace", "namespace_id", n.ID, "path", n.FullPath, "err", err)
	}
}

// repoMoves carries the repository renames made inside one transaction, so they can be
// undone when it does not commit. Renames are idempotent, so a re-run transaction body
// repeats them harmlessly.
type repoMoves struct {
	s    *Service
	done []repoMove
}

type repoMove struct {
	namespace          bool
	from, to           string
	fromHead, toHead   string // project default branches, when they changed
	moved, headChanged bool
}

func (s *Service) repoMoves() *repoMoves { return &repoMoves{s: s} }

// project follows a project's new path and default branch on disk.
func (m *repoMoves) project(ctx context.Context, before, after keygate.Project) error {
	if m.s.repos == nil {
		return nil
	}
	mv := repoMove{from: before.FullPath(), to: after.FullPath(), fromHead: before.DefaultBranch, toHead: after.DefaultBranch}
	if mv.from != mv.to {
		if err := m.s.repos.Move(ctx, mv.from, mv.to); err != nil {
			return repoMoveError(err)
		}
		mv.moved = true
	}
	if mv.fromHead != mv.toHead && mv.toHead != "" && m.s.repos.Exists(mv.to) {
		if err := m.s.repos.SetDefaultBranch(ctx, mv.to, mv.toHead); err != nil {
			return internal("set the repository's default branch", err)
		}
		mv.headChanged = true
	}
	m.record(mv)
	return nil
}

// namespace follows a group's (or a user's personal namespace's) new full path.
func (m *repoMoves) namespace(ctx context.Context, from, to string) error {
	if m.s.repos == nil || from == to {
		return nil
	}
	if err := m.s.repos.MoveNamespace(ctx, from, to); err != nil {
		return repoMoveError(err)
	}
	m.record(repoMove{namespace: true, from: from, to: to, moved: true})
	return nil
}

func (m *repoMoves) record(mv repoMove) {
	for _, d := range m.done {
		if d == mv {
			return
		}
	}
	m.done = append(m.done, mv)
}

func repoMoveError(err error) error {
	if errors.Is(err, repo.ErrExists) {
		return errRepositoryOnDisk
	}
	return internal("move repository", err)
}

// settle undoes the renames when the transaction failed (err != nil), newest first.
func (m *repoMoves) settle(ctx context.Context, err error) {
	if err == nil || m.s.repos == nil {
		return
	}
	for i := len(m.done) - 1; i >= 0; i-- {
		mv := m.done[i]
		var uerr error
		switch {
		case mv.namespace:
			uerr = m.s.repos.MoveNamespace(ctx, mv.to, mv.from)
		default:
			if mv.headChanged && mv.fromHead != "" {
				uerr = m.s.repos.SetDefaultBranch(ctx, mv.to, mv.fromHead)
			}
			if mv.moved && uerr == nil {
				uerr = m.s.repos.Move(ctx, mv.to, mv.from)
			}
		}
		if uerr != nil {
			m.s.log.Error("undo a repository move after its transaction failed", "from", mv.from, "to", mv.to, "err", uerr)
		}
	}
}

// EnsureRepositories creates the repositories of projects that have none, such as those
// created before Keygate kept repositories. Opening an instance runs it; concurrent runs
// on a shared directory agree (the loser of a creation sees ErrExists).
func (s *Service) EnsureRepositories(ctx context.Context) error {
	if s.repos == nil {
		return nil
	}
	for page := 1; ; page++ {
		ps, _, err := s.store.Projects(ctx, store.ProjectFilter{Page: store.Page{Number: page, Size: 500}, OrderBy: "id", Sort: "asc"})
		if err != nil {
			return internal("list projects for their repositories", err)
		}
		for _, p := range ps {
			if s.repos.Exists(p.FullPath()) {
				continue
			}
			if err := s.repos.Create(ctx, p.FullPath(), p.DefaultBranch); err != nil && !errors.Is(err, repo.ErrExists) {
				return internal("create missing repository of "+p.FullPath(), err)
			}
		}
		if len(ps) < 500 {
			return nil
		}
	}
}

// PushTarget describes the project's repository for judging a push or a branch's
// protection (authz.DecidePush).
func (s *Service) PushTarget(ctx context.Context, p keygate.Project) (authz.PushTarget, error) {
	t := authz.PushTarget{DefaultBranch: p.DefaultBranch, FullPath: p.FullPath(), MembersURL: s.externalURL + "/" + p.FullPath() + "/-/project_members"}
	if s.repos == nil {
		t.Empty = true
		return t, nil
	}
	has, err := s.repos.HasBranches(ctx, p.FullPath())
	if err != nil && !errors.Is(err, repo.ErrNotFound) {
		return t, internal("read branches", err)
	}
	t.Empty = !has
	return t, nil
}

// RepositoryPushed runs after a successful push. When the project's default branch still
// does not exist but others do (the first push brought other branches), the default
// becomes main, master or else the first branch by name, as GitLab's first push makes
// the pushed branch the default.
func (s *Service) RepositoryPushed(ctx context.Context, p keygate.Project) error {
	if s.repos == nil {
		return nil
	}
	branches, err := s.repos.Branches(ctx, p.FullPath())
	if err != nil || len(branches) == 0 {
		return err
	}
	names := map[string]bool{}
	for _, b := range branches {
		names[b.Name] = true
	}
	if names[p.DefaultBranch] {
		return nil
	}
	pick := branches[0].Name
	for _, c := range []string{"master", "main"} {
		if names[c] {
			pick = c
		}
	}
	err = s.store.InTx(ctx, func(tx store.Tx) error {
		cur, err := tx.Project(ctx, p.ID)
		if err != nil {
			return err
		}
		cur.DefaultBranch = pick
		return tx.UpdateProject(ctx, cur)
	})
	s.cache.invalidate()
	if err != nil {
		return internal("set the default branch after the first push", err)
	}
	if err := s.repos.SetDefaultBranch(ctx, p.FullPath(), pick); err != nil {
		return internal("set the default branch after the first push", err)
	}
	return nil
}

// BranchView is a branch as GitLab's branch entity shows it to a caller.
type BranchView struct {
	repo.Branch
	Merged    bool
	Protected bool
	Default   bool
	CanPush   bool
}

// BranchListInput selects branches as GET /repository/branches does.
type BranchListInput struct {
	// Search keeps names containing it (case-insensitive); a leading ^ or trailing $
	// anchors it, as GitLab's search does.
	Search string
	Page   store.Page
}

// Branches lists a project's branches for a caller who may read its code.
func (s *Service) Branches(ctx context.Context, sub authz.Subject, p keygate.Project, res authz.Resource, in BranchListInput) ([]BranchView, int, error) {
	if err := decide(authz.DecideResource(sub, res, authz.ActReadCode)); err != nil {
		return nil, 0, err
	}
	if s.repos == nil {
		return nil, 0, nil
	}
	all, err := s.repos.Branches(ctx, p.FullPath())
	if errors.Is(err, repo.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, internal("list branches", err)
	}
	var matched []repo.Branch
	for _, b := range all {
		if matchBranch(b.Name, in.Search) {
			matched = append(matched, b)
		}
	}
	total := len(matched)
	page := pageOf(matched, in.Page)
	if len(page) == 0 {
		return nil, total, nil
	}
	merged, err := s.repos.MergedInto(ctx, p.FullPath(), p.DefaultBranch)
	if err != nil {
		return nil, 0, internal("list merged branches", err)
	}
	var defaultTip string
	for _, b := range all {
		if b.Name == p.DefaultBranch {
			defaultTip = b.Commit.ID
		}
	}
	t := authz.PushTarget{Empty: len(all) == 0, DefaultBranch: p.DefaultBranch}
	out := make([]BranchView, len(page))
	for i, b := range page {
		out[i] = BranchView{
			Branch: b, Default: b.Name == p.DefaultBranch, Protected: t.ProtectedBranch(b.Name),
			// merged_to_root_ref?: reachable from the default branch but not its tip.
			Merged:  merged[b.Name] && b.Commit.ID != defaultTip,
			CanPush: authz.CanPushBranch(sub, res, t, b.Name),
		}
	}
	return out, total, nil
}

func matchBranch(name, search string) bool {
	if search == "" {
		return true
	}
	name, search = strings.ToLower(name), strings.ToLower(search)
	prefix, suffix := strings.HasPrefix(search, "^"), strings.HasSuffix(search, "$")
	search = strings.TrimSuffix(strings.TrimPrefix(search, "^"), "$")
	switch {
	case prefix && suffix:
		return name == search
	case prefix:
		return strings.HasPrefix(name, search)
	case suffix:
		return strings.HasSuffix(name, search)
	}
	return strings.Contains(name, search)
}

func pageOf[T any](items []T, pg store.Page) []T {
	size := max(pg.Size, 1)
	start := (max(pg.Number, 1) - 1) * size
	if start >= len(items) {
		return nil
	}
	return items[start:min(start+size, len(items))]
}

// ErrTreeNotFound, ErrCommitNotFound and ErrFileNotFound are GitLab's 404s of the
// repository API ("404 Tree Not Found" …).
var (
	ErrTreeNotFound   = &keygate.Error{Code: keygate.CodeNotFound, Message: "Tree"}
	ErrCommitNotFound = &keygate.Error{Code: keygate.CodeNotFound, Message: "Commit"}
	ErrFileNotFound   = &keygate.Error{Code: keygate.CodeNotFound, Message: "File"}
)

// TreeInput selects a tree listing as GET /repository/tree does.
type TreeInput struct {
	Ref       string // "" is the default branch
	Path      string
	Recursive bool
	Page      store.Page
}

// Tree lists one page of a tree for a caller who may read the project's code.
func (s *Service) Tree(ctx context.Context, sub authz.Subject, p keygate.Project, res authz.Resource, in TreeInput) ([]repo.TreeEntry, int, error) {
	if err := decide(authz.DecideResource(sub, res, authz.ActReadCode)); err != nil {
		return nil, 0, err
	}
	ref := in.Ref
	if ref == "" {
		ref = p.DefaultBranch
	}
	commit, err := s.resolve(ctx, p, ref, ErrTreeNotFound)
	if err != nil {
		return nil, 0, err
	}
	entries, err := s.repos.Tree(ctx, p.FullPath(), commit, in.Path, in.Recursive)
	if errors.Is(err, repo.ErrNotFound) {
		return nil, 0, ErrTreeNotFound
	}
	if err != nil {
		return nil, 0, internal("read tree", err)
	}
	return pageOf(entries, in.Page), len(entries), nil
}

// resolve finds the commit a ref names, answering notFound when there is none (also
// when the project has no repository).
func (s *Service) resolve(ctx context.Context, p keygate.Project, ref string, notFound error) (string, error) {
	if s.repos == nil {
		return "", notFound
	}
	commit, err := s.repos.ResolveCommit(ctx, p.FullPath(), ref)
	if errors.Is(err, repo.ErrNotFound) {
		return "", notFound
	}
	if err != nil {
		return "", internal("resolve ref", err)
	}
	return commit, nil
}

// FileMeta is what GitLab's repository files API reports of a file (blob_data).
type FileMeta struct {
	Name         string
	Path         string
	Size         int64
	Ref          string
	BlobID       string
	CommitID     string
	LastCommitID string
	Executable   bool
}

// File describes a file at ref (the default branch when "") for a caller who may read
// the project's code. Open the content with OpenBlob.
func (s *Service) File(ctx context.Context, sub authz.Subject, p keygate.Project, res authz.Resource, file, ref string) (FileMeta, error) {
	if err := decide(authz.DecideResource(sub, res, authz.ActReadCode)); err != nil {
		return FileMeta{}, err
	}
	if ref == "" {
		ref = p.DefaultBranch
	}
	commit, err := s.resolve(ctx, p, ref, ErrCommitNotFound)
	if err != nil {
		return FileMeta{}, err
	}
	file = strings.Trim(file, "/")
	e, err := s.repos.Stat(ctx, p.FullPath(), commit, file)
	if errors.Is(err, repo.ErrNotFound) || err == nil && e.Type != "blob" {
		return FileMeta{}, ErrFileNotFound
	}
	if err != nil {
		return FileMeta{}, internal("read file", err)
	}
	last, err := s.repos.LastCommit(ctx, p.FullPath(), commit, file)
	if err != nil {
		return FileMeta{}, internal("read file history", err)
	}
	name := file[strings.LastIndex(file, "/")+1:]
	return FileMeta{
		Name: name, Path: file, Size: e.Size, Ref: ref, BlobID: e.ID, CommitID: commit,
		LastCommitID: last, Executable: e.Mode == "100755",
	}, nil
}

// OpenBlob streams the content of a file File described; the caller closes it.
func (s *Service) OpenBlob(ctx context.Context, p keygate.Project, f FileMeta) (io.ReadCloser, error) {
	if s.repos == nil {
		return nil, ErrFileNotFound
	}
	rc, err := s.repos.Open(ctx, p.FullPath(), f.BlobID)
	if err != nil {
		return nil, internal("open file", fmt.Errorf("%s: %w", f.Path, err))
	}
	return rc, nil
}

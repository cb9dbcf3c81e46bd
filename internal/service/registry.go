package service

import (
	"context"
	"errors"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// ProjectByLongestPath finds the project a container repository name belongs to: the
// longest of the candidate full paths (at most store.MaxPathCandidates) that is a
// project, in one lookup. found is false when none is.
func (s *Service) ProjectByLongestPath(ctx context.Context, candidates []string) (p keygate.Project, found bool, err error) {
	p, err = s.store.ProjectByLongestPath(ctx, candidates)
	if errors.Is(err, store.ErrNotFound) {
		return keygate.Project{}, false, nil
	}
	if err != nil {
		return keygate.Project{}, false, internal("find project by path", err)
	}
	return p, true, nil
}

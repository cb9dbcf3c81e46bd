package connection

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Check checks the named connections (all when none are named) in parallel, saves what
// it learned and returns them in name order. within is the expiring horizon (0: 30
// days). progress, if set, is called after each connection with the count done.
func (r *Registry) Check(ctx context.Context, within time.Duration, progress func(done, total int), names ...string) ([]Connection, error) {
	conns, err := r.List(ctx, names...)
	if err != nil {
		return nil, err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
	)
	jobs := make(chan int)
	for range min(r.cfg.Workers, len(conns)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r.checkOne(ctx, &conns[i], within)
				mu.Lock()
				done++
				if progress != nil {
					progress(done, len(conns))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range conns {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for i := range conns {
		if err := r.saveCheck(ctx, conns[i]); err != nil {
			return nil, err
		}
	}
	return conns, nil
}

func (r *Registry) checkOne(ctx context.Context, c *Connection, within time.Duration) {
	now := r.cfg.Now().UTC()
	c.LastCheckAt = &now
	cl, _, err := r.client(*c)
	if err != nil {
		c.Status, c.Detail = Unreachable, err.Error()
		return
	}
	t, err := cl.SelfToken(ctx)
	if err != nil {
		c.Status, c.Detail = classifyError(err)
	} else {
		r.learn(ctx, cl, c, t)
		c.Status, c.Detail = classify(t, c.RequiredScopes, now, within)
		c.DaysLeft = daysLeft(c.ExpiresAt, now)
	}
	switch {
	case c.NeedsReauth:
		c.Detail += "; a rotation lost its successor: re-authorize with `keygate connections add " + c.Name + " --url " + c.URL + " --replace`"
	case c.RotationPending:
		c.Detail += "; a rotation did not finish: run `keygate connections rotate " + c.Name + "` to recover it"
	}
}

func (r *Registry) saveCheck(ctx context.Context, c Connection) error {
	_, err := r.db.ExecContext(ctx, `UPDATE connections SET server = ?, owner = ?, user_id = ?,
		token_id = ?, token_type = ?, scopes = ?, expires_at = ?, token_created_at = ?,
		last_check_at = ?, last_status = ?, last_detail = ? WHERE name = ?`,
		c.Server, c.Owner, c.UserID, c.TokenID, c.Type, strings.Join(c.Scopes, ","), c.ExpiresAt,
		c.tokenCreatedAt, c.LastCheckAt.Format(timeLayout), c.Status, c.Detail, c.Name)
	return err
}

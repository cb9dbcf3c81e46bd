package sqlite

import (
	"context"
	"fmt"
)

// Checkpoint copies the WAL into the database file and truncates it. SQLite checkpoints
// on its own as it goes; after a bulk load (seeding) an explicit one keeps readers from
// searching a long WAL.
func (s *Store) Checkpoint(ctx context.Context) error {
	if _, err := s.write.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return fmt.Errorf("sqlite: checkpoint: %w", err)
	}
	return nil
}

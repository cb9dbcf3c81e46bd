package connection

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/keygate/keygate/internal/secret"
)

// File names inside the registry's directory.
const (
	DBFile  = "connections.db"
	KeyFile = "connections.key"
)

// schema is the registry's one table. Tokens are sealed with AES-GCM under the key file,
// bound to the connection's name; the rotate_* columns hold a rotation's intent,
// written before the rotation is sent and cleared once its successor is saved.
const schema = `CREATE TABLE IF NOT EXISTS connections (
	name              TEXT PRIMARY KEY,
	url               TEXT NOT NULL,
	sealed_token      BLOB NOT NULL,
	server            TEXT NOT NULL DEFAULT '',
	owner             TEXT NOT NULL DEFAULT '',
	user_id           INTEGER NOT NULL DEFAULT 0,
	token_id          INTEGER NOT NULL DEFAULT 0,
	token_type        TEXT NOT NULL DEFAULT '',
	scopes            TEXT NOT NULL DEFAULT '',
	required_scopes   TEXT NOT NULL DEFAULT '',
	expires_at        TEXT,
	token_created_at  TEXT,
	added_at          TEXT NOT NULL,
	last_check_at     TEXT,
	last_status       TEXT NOT NULL DEFAULT '',
	last_detail       TEXT NOT NULL DEFAULT '',
	needs_reauth      INTEGER NOT NULL DEFAULT 0,
	rotate_key        TEXT,
	rotate_path       TEXT,
	rotate_expires_at TEXT,
	rotate_started_at TEXT
) STRICT`

const timeLayout = time.RFC3339Nano

// openDB opens (creating) the database in dir, private to the user.
func openDB(ctx context.Context, dir string) (*sql.DB, error) {
	path := filepath.Join(dir, DBFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("connections: %w", err)
	}
	_ = f.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("connections: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; the CLI is one process at a time
	if _, err := db.ExecContext(ctx, schema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connections: create schema in %s: %w", path, err)
	}
	return db, nil
}

// loadKey reads the key file, creating 32 random bytes with mode 0600 on first use. A key
// file others can read is refused: it guards every stored token.
func loadKey(dir string) (cipher.AEAD, error) {
	path := filepath.Join(dir, KeyFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := createKey(path); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("connections: create key file: %w", err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("connections: read key file: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("connections: key file %s has mode %04o; want 0600 (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("connections: key file %s does not hold 32 hex-encoded bytes", path)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// createKey writes 32 random bytes, hex-encoded, to a new file of mode 0600; O_EXCL
// keeps two first runs from writing different keys.
func createKey(path string) error {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(hex.EncodeToString(k) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (r *Registry) seal(name string, t secret.Token) ([]byte, error) {
	nonce := make([]byte, r.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return r.aead.Seal(nonce, nonce, []byte(t.Reveal()), []byte("connection:"+name)), nil
}

func (r *Registry) open(name string, sealed []byte) (secret.Token, error) {
	n := r.aead.NonceSize()
	if len(sealed) < n {
		return secret.Token{}, fmt.Errorf("connection %s: stored token is damaged", name)
	}
	b, err := r.aead.Open(nil, sealed[:n], sealed[n:], []byte("connection:"+name))
	if err != nil {
		return secret.Token{}, fmt.Errorf("connection %s: stored token does not open with this key file", name)
	}
	return secret.Wrap(string(b)), nil
}

package sqlite

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// helperEnv, when set, makes the test binary a second process that revokes a token in the
// database it names ("path:tokenID") and exits: the admin CLI writing beside a server.
const helperEnv = "KEYGATE_SQLITE_TEST_REVOKE"

func TestMain(m *testing.M) {
	if v := os.Getenv(helperEnv); v != "" {
		if err := revokeInOtherProcess(v); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func revokeInOtherProcess(arg string) error {
	i := strings.LastIndexByte(arg, ':')
	id, err := strconv.ParseInt(arg[i+1:], 10, 64)
	if i < 0 || err != nil {
		return fmt.Errorf("bad %s %q", helperEnv, arg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, arg[:i])
	if err != nil {
		return err
	}
	defer s.Close()
	return s.InTx(ctx, func(tx store.Tx) error {
		ok, err := tx.RevokeToken(ctx, id, time.Now())
		if err == nil && !ok {
			err = fmt.Errorf("token %d was already revoked", id)
		}
		return err
	})
}

// TestSecondProcess: a revocation committed by another process moves this process's
// Marker at once and is what its next read returns.
func TestSecondProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keygate.db")
	s := openTest(t, path)
	ctx := t.Context()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	u := keygate.User{Username: "root", Email: "root@example.com", CreatedAt: now}
	tok := keygate.Token{Name: "t", CreatedAt: now, Digest: []byte("digest")}
	err := s.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateUser(ctx, &u); err != nil {
			return err
		}
		tok.UserID = u.ID
		return tx.CreateToken(ctx, &tok)
	})
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Marker(ctx)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path+":"+strconv.FormatInt(tok.ID, 10))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("second process: %v\n%s", err, out)
	}

	if after, err := s.Marker(ctx); err != nil || after == before {
		t.Errorf("Marker() after another process revoked = %d, %v, want a value other than %d", after, err, before)
	}
	if got, err := s.TokenByDigest(ctx, tok.Digest); err != nil || !got.Revoked {
		t.Errorf("TokenByDigest() after another process revoked = Revoked %v, %v, want true, nil", got.Revoked, err)
	}
}

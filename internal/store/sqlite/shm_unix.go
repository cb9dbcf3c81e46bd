//go:build unix

package sqlite

import (
	"fmt"
	"os"
	"syscall"
)

// shmView maps the first bytes of the database's WAL index (<db>-shm) read-only. SQLite
// rewrites the index header on every commit by any process: mxFrame and the change
// counter move, and the salts change when the WAL restarts. It is the very header that
// PRAGMA data_version is computed from, so comparing it is the same test without a query.
type shmView struct{ mem []byte }

// walIndexHeaderLen is one copy of the WAL-index header (WalIndexHdr, 48 bytes); the first
// copy is the one SQLite writes last.
const walIndexHeaderLen = 48

func openShm(dbPath string) (*shmView, error) {
	f, err := os.Open(dbPath + "-shm")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < walIndexHeaderLen {
		return nil, fmt.Errorf("wal index is %d bytes", fi.Size())
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, walIndexHeaderLen, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return &shmView{mem: mem}, nil
}

// header copies the current header. A copy torn by a concurrent commit differs from
// every stored one, so it only sends the caller down the slow path.
func (v *shmView) header() (h [walIndexHeaderLen]byte) {
	copy(h[:], v.mem)
	return h
}

func (v *shmView) close() error { return syscall.Munmap(v.mem) }

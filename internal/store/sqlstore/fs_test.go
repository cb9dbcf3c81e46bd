package sqlstore

import (
	"io/fs"
	"testing/fstest"
)

// badFS is a migrations directory holding the named files, each with a trivial body.
type badFS []string

func (b badFS) Open(name string) (fs.File, error) {
	m := fstest.MapFS{}
	for _, n := range b {
		m[n] = &fstest.MapFile{Data: []byte("SELECT 1;")}
	}
	return m.Open(name)
}

package sqlstore

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/keygate/keygate"
)

// TestSettingsStorageKeys pins the JSON keys the settings row is stored under: the Go
// field names of keygate.Settings. Adding a field is free (it decodes to its default
// from older rows); renaming one or giving it a json tag changes the stored key and makes
// every existing row lose that setting, so it needs a migration that rewrites the row.
func TestSettingsStorageKeys(t *testing.T) {
	data, err := json.Marshal(keygate.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for k := range m {
		got = append(got, k)
	}
	for f := range reflect.TypeFor[keygate.Settings]().Fields() {
		want = append(want, f.Name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("json.Marshal(keygate.Settings) keys = %q, want the field names %q", got, want)
	}
}

func TestRebindDollar(t *testing.T) {
	cases := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = $1 AND b = $2"},
		{`x LIKE ? ESCAPE '\' AND y = ?`, `x LIKE $1 ESCAPE '\' AND y = $2`},
		{"s = '?' AND t = ?", "s = '?' AND t = $1"},
		{`"we?rd" = ?`, `"we?rd" = $1`},
		{"a = ? -- why?\nAND b = ?", "a = $1 -- why?\nAND b = $2"},
		{"a = ? -- trailing?", "a = $1 -- trailing?"},
	}
	for _, c := range cases {
		if got := RebindDollar(c.in); got != c.want {
			t.Errorf("RebindDollar(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestReadMigrations(t *testing.T) {
	// Real migration sets are tested by the backends; here the refusals.
	if _, err := ReadMigrations(files("0001_a.up.sql", "1_b.up.sql")); err == nil {
		t.Error("ReadMigrations(two files of version 1) = nil error, want one")
	}
	if _, err := ReadMigrations(files("init.up.sql")); err == nil {
		t.Error("ReadMigrations(init.up.sql) = nil error, want one")
	}
	ms, err := ReadMigrations(files("0002_b.up.sql", "0001_a.up.sql"))
	if err != nil || len(ms) != 2 || ms[0].Version != 1 || ms[1].Name != "b" {
		t.Errorf("ReadMigrations(0002_b, 0001_a) = %+v, %v, want versions 1, 2 in order", ms, err)
	}
}

// files is a migrations directory holding the named files, each with a trivial body.
func files(names ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for _, n := range names {
		m[n] = &fstest.MapFile{Data: []byte("SELECT 1;")}
	}
	return m
}

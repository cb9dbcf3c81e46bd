package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// Seeder is implemented by a Store (usually a backend's test wrapper) that can load many
// rows faster than InTx and CreateToken, e.g. with one prepared statement or COPY. It
// creates users users, then for each i in [0, tokens) stores token(owner, i), owner
// being the ID of one of those users.
type Seeder interface {
	Seed(ctx context.Context, users, tokens int, token func(owner int64, i int) keygate.Token) error
}

// Digest is the digest of seeded token i: distinct per i, shaped like the real keyed
// SHA-256 digests.
func Digest(i int) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	sum := sha256.Sum256(b[:])
	return sum[:]
}

// seedUsers is how many owners n seeded tokens are spread over.
func seedUsers(n int) int { return max(1, n/100) }

// Seed loads n tokens (SeedToken) into s, through Seeder when s has it and through InTx
// otherwise.
func Seed(tb testing.TB, s store.Store, n int) {
	tb.Helper()
	ctx := tb.Context()
	users := seedUsers(n)
	if sd, ok := s.(Seeder); ok {
		if err := sd.Seed(ctx, users, n, SeedToken); err != nil {
			tb.Fatalf("Seed(%d users, %d tokens) = %v", users, n, err)
		}
		return
	}
	const batch = 5000
	var owners []int64
	err := s.InTx(ctx, func(tx store.Tx) error {
		owners = owners[:0]
		for i := range users {
			u := newUser(fmt.Sprintf("seed%07d", i))
			if err := tx.CreateUser(ctx, &u); err != nil {
				return err
			}
			owners = append(owners, u.ID)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("seeding %d users: %v", users, err)
	}
	for lo := 0; lo < n; lo += batch {
		err := s.InTx(ctx, func(tx store.Tx) error {
			for i := lo; i < min(lo+batch, n); i++ {
				tok := SeedToken(owners[i%len(owners)], i)
				if err := tx.CreateToken(ctx, &tok); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatalf("seeding tokens %d..: %v", lo, err)
		}
	}
}

// SeedToken is seeded token i of owner, with digest Digest(i): a typical live token
// (scopes, an expiry, a last use), so the benchmark decodes a realistic row.
func SeedToken(owner int64, i int) keygate.Token {
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	expires := keygate.DateOf(created).AddDays(365)
	return keygate.Token{
		UserID:     owner,
		Name:       fmt.Sprintf("token %d", i),
		Scopes:     keygate.Scopes{keygate.ScopeAPI, keygate.ScopeReadRepository},
		ExpiresAt:  &expires,
		CreatedAt:  created,
		UpdatedAt:  created,
		LastUsedAt: &created,
		Digest:     Digest(i),
	}
}

// BenchmarkTokenByDigest seeds n tokens into s and measures TokenByDigest, the
// verification lookup, on tokens picked at random.
func BenchmarkTokenByDigest(b *testing.B, s store.Store, n int) {
	Seed(b, s, n)
	ctx := b.Context()
	// Digests are computed up front so the loop measures the store, not SHA-256; 64k
	// random picks touch far more of a large table than a cache would hold hot.
	rng := rand.New(rand.NewPCG(1, 2))
	picks := make([][]byte, min(n, 1<<16))
	for i := range picks {
		picks[i] = Digest(rng.IntN(n))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.TokenByDigest(ctx, picks[i%len(picks)]); err != nil {
			b.Fatalf("TokenByDigest = %v", err)
		}
		i++
	}
}

// BenchmarkMarker measures Marker when nothing changed, its cost on every request.
func BenchmarkMarker(b *testing.B, s store.Store) {
	ctx := b.Context()
	if _, err := s.Marker(ctx); err != nil {
		b.Fatalf("Marker() = %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Marker(ctx); err != nil {
			b.Fatalf("Marker() = %v", err)
		}
	}
}

// MemberSeeder is implemented by a Store (usually a backend's test wrapper) that can load
// many memberships faster than InTx and AddMember. It creates users users, then for each
// i in [0, members) stores member(ids, i), ids being those users' IDs in creation order.
type MemberSeeder interface {
	SeedMembers(ctx context.Context, users, members int, member func(ids []int64, i int) keygate.Member) error
}

// benchTree is the namespace tree of BenchmarkMaxAccess: one top-level group, each group
// with benchFanout subgroups down to benchDepth levels, and benchLeafProjects projects in
// every group of the last level.
const (
	benchDepth        = 5
	benchFanout       = 3
	benchLeafProjects = 2
)

// seedTree creates the benchmark tree and returns every namespace and project (the
// membership sources) and the leaf projects with their namespaces loaded.
func seedTree(tb testing.TB, s store.Store) (sources []keygate.Member, leaves []keygate.Project) {
	tb.Helper()
	ctx := tb.Context()
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	err := s.InTx(ctx, func(tx store.Tx) error {
		sources, leaves = sources[:0], leaves[:0]
		level := []keygate.Namespace{{}}
		for depth := 1; depth <= benchDepth; depth++ {
			var next []keygate.Namespace
			for _, parent := range level {
				for i := range benchFanout {
					if depth == 1 && i > 0 {
						break // one top-level group
					}
					n := keygate.Namespace{
						Kind: keygate.NamespaceGroup, Name: fmt.Sprintf("Group %d", i),
						Path: fmt.Sprintf("g%d", i), ParentID: parent.ID,
						Visibility: keygate.Private, CreatedAt: created,
					}
					if depth == 1 {
						n.Path = "bench"
					}
					if err := tx.CreateNamespace(ctx, &n); err != nil {
						return err
					}
					sources = append(sources, keygate.Member{SourceType: keygate.SourceNamespace, SourceID: n.ID})
					next = append(next, n)
				}
			}
			level = next
		}
		for _, n := range level {
			for i := range benchLeafProjects {
				p := keygate.Project{
					Name: fmt.Sprintf("Project %d", i), Path: fmt.Sprintf("p%d", i),
					NamespaceID: n.ID, Visibility: keygate.Private, CreatedAt: created,
				}
				if err := tx.CreateProject(ctx, &p); err != nil {
					return err
				}
				p.Namespace = n
				sources = append(sources, keygate.Member{SourceType: keygate.SourceProject, SourceID: p.ID})
				leaves = append(leaves, p)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("seeding the namespace tree: %v", err)
	}
	return sources, leaves
}

// SeedMembers loads the benchmark tree and n memberships into s, through MemberSeeder
// when s has it and through InTx otherwise, and returns the leaf projects and the users.
// Each user holds about ten memberships spread over the whole tree; a tenth of them
// expired.
func SeedMembers(tb testing.TB, s store.Store, n int) (leaves []keygate.Project, users []int64) {
	tb.Helper()
	ctx := tb.Context()
	sources, leaves := seedTree(tb, s)
	nUsers := max(1, n/10)
	if n/nUsers > len(sources) {
		tb.Fatalf("SeedMembers(%d): more memberships per user than sources", n)
	}
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	expired := keygate.DateOf(created)
	levels := []keygate.AccessLevel{keygate.Guest, keygate.Reporter, keygate.Developer, keygate.Maintainer, keygate.Owner}
	// Membership i is user i%users' (i/users)-th: stepping through the sources by a
	// stride prime to their number gives each user distinct sources.
	member := func(ids []int64, i int) keygate.Member {
		u, k := i%len(ids), i/len(ids)
		m := sources[(u*7+k*101)%len(sources)]
		m.UserID, m.AccessLevel, m.CreatedAt = ids[u], levels[i%len(levels)], created
		if i%10 == 9 {
			m.ExpiresAt = &expired
		}
		return m
	}
	if sd, ok := s.(MemberSeeder); ok {
		var err error
		users, err = seedMemberUsers(ctx, sd, nUsers, n, member)
		if err != nil {
			tb.Fatalf("SeedMembers(%d users, %d memberships) = %v", nUsers, n, err)
		}
		return leaves, users
	}
	err := s.InTx(ctx, func(tx store.Tx) error {
		users = users[:0]
		for i := range nUsers {
			u := newUser(fmt.Sprintf("member%07d", i))
			if err := tx.CreateUser(ctx, &u); err != nil {
				return err
			}
			users = append(users, u.ID)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("seeding %d users: %v", nUsers, err)
	}
	const batch = 5000
	for lo := 0; lo < n; lo += batch {
		err := s.InTx(ctx, func(tx store.Tx) error {
			for i := lo; i < min(lo+batch, n); i++ {
				m := member(users, i)
				if err := tx.AddMember(ctx, &m); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatalf("seeding memberships %d..: %v", lo, err)
		}
	}
	return leaves, users
}

// seedMemberUsers runs sd and recovers the user IDs it handed to member.
func seedMemberUsers(ctx context.Context, sd MemberSeeder, users, n int, member func([]int64, int) keygate.Member) ([]int64, error) {
	var ids []int64
	err := sd.SeedMembers(ctx, users, n, func(got []int64, i int) keygate.Member {
		ids = got
		return member(got, i)
	})
	if err == nil && len(ids) != users {
		err = fmt.Errorf("seeder handed %d user IDs, want %d", len(ids), users)
	}
	return ids, err
}

// BenchmarkMaxAccess seeds the benchmark tree (SeedMembers) with n memberships and
// measures MaxAccess, the authorization lookup, for random users on random leaf projects
// with their five-namespace ancestor chains.
func BenchmarkMaxAccess(b *testing.B, s store.Store, n int) {
	leaves, users := SeedMembers(b, s, n)
	ctx := b.Context()
	now := time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)
	type pick struct {
		user    int64
		project keygate.Project
	}
	rng := rand.New(rand.NewPCG(3, 4))
	picks := make([]pick, 1<<16)
	for i := range picks {
		picks[i] = pick{users[rng.IntN(len(users))], leaves[rng.IntN(len(leaves))]}
	}
	b.ReportAllocs()
	i, granted := 0, 0
	for b.Loop() {
		p := picks[i%len(picks)]
		lvl, err := s.MaxAccess(ctx, p.user, p.project.ID, p.project.Namespace.TraversalIDs, now)
		if err != nil {
			b.Fatalf("MaxAccess = %v", err)
		}
		if lvl > keygate.NoAccess {
			granted++
		}
		i++
	}
	b.ReportMetric(float64(granted)/float64(i), "granted/op")
}

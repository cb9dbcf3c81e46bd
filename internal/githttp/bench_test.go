package githttp_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// BenchmarkCloneVsFile clones a repository of 10,000 commits through Keygate (HTTP, token
// check, git http-backend) and, in the same iteration, with `git clone file://` of the
// same bare repository, and reports both and their ratio (goal: ≤ 1.2). Each iteration
// alternates the order so neither side always finds the page cache warm. Run it with
//
//	KEYGATE_BENCH_CLONE=1 go test -run '^$' -bench CloneVsFile -benchtime 10x ./internal/githttp
//
// It is skipped otherwise: building the history takes a few seconds.
func BenchmarkCloneVsFile(b *testing.B) {
	if os.Getenv("KEYGATE_BENCH_CLONE") != "1" {
		b.Skip("set KEYGATE_BENCH_CLONE=1 to compare git clone through Keygate with file://")
	}
	const commits = 10_000
	w := newWorld(b)
	g := newGit(b)
	p := w.p["private"]
	bare := w.srv.Inst.Repositories.Path(p.FullPath())
	start := time.Now()
	fastImport(b, bare, commits)
	b.Logf("%d commits imported in %v", commits, time.Since(start).Round(time.Millisecond))
	viaKeygate := remote(w.srv, "oauth2", w.pat("rep", keygate.ScopeReadRepository), p.FullPath())
	viaFile := "file://" + bare
	clone := func(src string, args ...string) time.Duration {
		dst := filepath.Join(b.TempDir(), "c")
		t0 := time.Now()
		g.ok("", append(append([]string{"clone", "-q"}, args...), src, dst)...)
		d := time.Since(t0)
		if err := os.RemoveAll(dst); err != nil {
			b.Fatal(err)
		}
		return d
	}
	clone(viaFile) // warm the page cache for both
	var kg, file, kgBare, fileBare time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			kg += clone(viaKeygate)
			file += clone(viaFile)
			kgBare += clone(viaKeygate, "--bare")
			fileBare += clone(viaFile, "--bare")
		} else {
			file += clone(viaFile)
			kg += clone(viaKeygate)
			fileBare += clone(viaFile, "--bare")
			kgBare += clone(viaKeygate, "--bare")
		}
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(b.N) / 1e6 }
	b.ReportMetric(ms(kg), "keygate-ms/clone")
	b.ReportMetric(ms(file), "file-ms/clone")
	b.ReportMetric(float64(kg)/float64(file), "ratio")
	b.ReportMetric(ms(kgBare), "keygate-ms/bare-clone")
	b.ReportMetric(ms(fileBare), "file-ms/bare-clone")
	b.ReportMetric(float64(kgBare)/float64(fileBare), "bare-ratio")
}

// fastImport writes n commits, each changing a few files, into the bare repository at
// dir with git fast-import (seconds, where n git commits would take minutes).
func fastImport(tb testing.TB, dir string, n int) {
	tb.Helper()
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_DIR="+dir)
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	bw := bufio.NewWriterSize(in, 1<<20)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := 1; i <= n; i++ {
		msg := fmt.Sprintf("Commit %d\n", i)
		fmt.Fprintf(bw, "commit refs/heads/main\ncommitter Ada <ada@example.com> %d +0000\ndata %d\n%s", base+int64(i), len(msg), msg)
		for f := 0; f < 3; f++ {
			content := fmt.Sprintf("file %d, revision %d\n%s\n", f, i, filepath.Join("src", fmt.Sprint(i%97)))
			fmt.Fprintf(bw, "M 644 inline src/%d/file%d.txt\ndata %d\n%s", (i+f)%50, f, len(content), content)
		}
		bw.WriteString("\n")
	}
	if err := bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		tb.Fatalf("git fast-import: %v", err)
	}
}

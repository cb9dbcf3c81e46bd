package githttp

import (
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

var splitCases = []struct {
	in   string
	want Path
	ok   bool
}{
	{"/group/project.git/info/refs", Path{Project: "group/project", Endpoint: InfoRefs, DotGit: true}, true},
	{"/group/project.git/git-upload-pack", Path{Project: "group/project", Endpoint: UploadPack, DotGit: true}, true},
	{"/group/project.git/git-receive-pack", Path{Project: "group/project", Endpoint: ReceivePack, DotGit: true}, true},
	{"/a/b/c/d.git/info/refs", Path{Project: "a/b/c/d", Endpoint: InfoRefs, DotGit: true}, true},
	{"/group/project/info/refs", Path{Project: "group/project", Endpoint: InfoRefs}, true},
	{"/group/project/git-upload-pack", Path{Project: "group/project", Endpoint: UploadPack}, true},
	{"/alice/my.project_1-x.git/info/refs", Path{Project: "alice/my.project_1-x", Endpoint: InfoRefs, DotGit: true}, true},
	{"/project.git/info/refs", Path{}, false}, // no namespace
	{"/info/refs", Path{}, false},                       // no repository (fuzz find)
	{"/group/.git/info/refs", Path{}, false},            // empty project
	{"//project.git/info/refs", Path{}, false},          // empty namespace
	{"/group/../x.git/info/refs", Path{}, false},        // traversal
	{"/group/./x.git/info/refs", Path{}, false},         // dot segment
	{"/group/p.git.git/info/refs", Path{}, false},       // ends in .git after stripping
	{"/group/p.wiki.git/info/refs", Path{}, false},      // wikis are not served
	{"/group/p.git/info/refs/", Path{}, false},          // trailing slash
	{"/group/p.git/info", Path{}, false},                // not an endpoint
	{"/group/p.git/objects/info/packs", Path{}, false},  // dumb protocol
	{"group/p.git/info/refs", Path{}, false},            // relative
	{"/-/group/p.git/info/refs", Path{}, false},         // '-' is not a path
	{"/group/-p.git/info/refs", Path{}, false},          // leading '-'
	{"/group/p%2Fq.git/info/refs", Path{}, false},       // encoded slash stays a '%'
	{"/gr oup/p.git/info/refs", Path{}, false},          // space
	{"/group/p.git/info/refs?service=x", Path{}, false}, // a query is not part of the path
	{"/api/v4/p.git/info/refs", Path{Project: "api/v4/p", Endpoint: InfoRefs, DotGit: true}, true},
}

func TestSplitPath(t *testing.T) {
	for _, tc := range splitCases {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := SplitPath(tc.in)
			if ok != tc.ok || got != tc.want {
				t.Errorf("SplitPath(%q) = %+v, %v, want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
			if ok && got.String() != tc.in {
				t.Errorf("SplitPath(%q).String() = %q, want the input back", tc.in, got.String())
			}
		})
	}
}

// FuzzSplitPath: whatever the input, an accepted path rebuilds to itself and names a
// project of at least two valid segments, none of which can climb out of the
// repositories directory.
func FuzzSplitPath(f *testing.F) {
	for _, tc := range splitCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, ok := SplitPath(in)
		if !ok {
			return
		}
		if p.String() != in {
			t.Fatalf("SplitPath(%q) = %+v, which rebuilds to %q", in, p, p.String())
		}
		segs := strings.Split(p.Project, "/")
		if len(segs) < 2 {
			t.Fatalf("SplitPath(%q) = %+v: fewer than two segments", in, p)
		}
		for _, s := range segs {
			if !keygate.ValidPath(s) || s == "." || s == ".." {
				t.Fatalf("SplitPath(%q) = %+v: segment %q", in, p, s)
			}
		}
		if p.Endpoint.Suffix() == "" {
			t.Fatalf("SplitPath(%q) = %+v: no endpoint", in, p)
		}
	})
}

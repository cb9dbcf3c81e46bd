package githttp

import (
	"strings"

	"github.com/keygate/keygate"
)

// Endpoint is one of the Git smart-HTTP endpoints below a repository path.
type Endpoint int

// The endpoints Keygate serves (GitLab's config/routes/git_http.rb).
const (
	InfoRefs    Endpoint = iota + 1 // GET …/info/refs?service=…
	UploadPack                      // POST …/git-upload-pack
	ReceivePack                     // POST …/git-receive-pack
)

// endpoints is the fixed table of suffixes, in the order they are tried.
var endpoints = []struct {
	suffix string
	ep     Endpoint
}{
	{"/info/refs", InfoRefs},
	{"/git-upload-pack", UploadPack},
	{"/git-receive-pack", ReceivePack},
}

// Suffix is the endpoint's path below the repository.
func (e Endpoint) Suffix() string {
	for _, x := range endpoints {
		if x.ep == e {
			return x.suffix
		}
	}
	return ""
}

// Path is a parsed Git request path.
type Path struct {
	// Project is the project's full path, "group/sub/project".
	Project  string
	Endpoint Endpoint
	// DotGit records whether the client wrote the ".git" suffix; GitLab serves only
	// paths with it and redirects info/refs without it.
	DotGit bool
}

// String rebuilds the request path.
func (p Path) String() string {
	s := "/" + p.Project
	if p.DotGit {
		s += ".git"
	}
	return s + p.Endpoint.Suffix()
}

// SplitPath parses a (decoded) URL path as /<namespace path>/<project>[.git]/<endpoint>.
// The namespace has one or more segments; every segment must be a valid GitLab path
// (keygate.ValidPath), which excludes ".", "..", empty segments and anything ending in
// ".git". Wiki repositories (<project>.wiki.git) are not served.
func SplitPath(p string) (Path, bool) {
	if !strings.HasPrefix(p, "/") {
		return Path{}, false
	}
	var out Path
	rest := ""
	for _, e := range endpoints {
		if r, ok := strings.CutSuffix(p, e.suffix); ok && r != "" {
			out.Endpoint, rest = e.ep, r[1:] // r keeps p's leading '/'
			break
		}
	}
	if out.Endpoint == 0 {
		return Path{}, false
	}
	rest, out.DotGit = strings.CutSuffix(rest, ".git")
	if out.DotGit && strings.HasSuffix(rest, ".wiki") {
		return Path{}, false
	}
	segs := strings.Split(rest, "/")
	if len(segs) < 2 {
		return Path{}, false
	}
	for _, s := range segs {
		if !keygate.ValidPath(s) {
			return Path{}, false
		}
	}
	out.Project = rest
	return out, true
}

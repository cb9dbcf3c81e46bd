package server

import (
	"net/http"
	"strings"

	"github.com/keygate/keygate/internal/api"
	"github.com/keygate/keygate/internal/githttp"
)

// withGit sends Git smart-HTTP requests (githttp.Match) to git and everything else to
// next. The API and the /-/ routes keep their paths even where a group named "api" or
// "-" would make them look like repository paths.
func withGit(git, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if !strings.HasPrefix(p, api.Prefix+"/") && !strings.HasPrefix(p, "/-/") && githttp.Match(r) {
			git.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

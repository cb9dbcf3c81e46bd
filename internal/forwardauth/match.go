package forwardauth

import (
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
)

// Request is the original request a proxy asks about.
type Request struct {
	Method string
	// Host is lower case, with the port when the proxy sent one.
	Host string
	// Path is decoded and cleaned, so /public/../admin is judged as /admin, as the
	// upstream will see it.
	Path string
}

// Match returns the first service that matches the request, in file order, or nil.
func (p *Policy) Match(req Request) *Service {
	for i := range p.Services {
		if p.Services[i].matches(req) {
			return &p.Services[i]
		}
	}
	return nil
}

func (s *Service) matches(req Request) bool {
	if len(s.Methods) > 0 && !slices.Contains(s.Methods, req.Method) {
		return false
	}
	if len(s.Hosts) > 0 && !slices.ContainsFunc(s.Hosts, func(h string) bool { return hostMatches(h, req.Host) }) {
		return false
	}
	return slices.ContainsFunc(s.Paths, func(prefix string) bool { return pathMatches(prefix, req.Path) })
}

// hostMatches compares a gate-file host with the request's: a pattern without a port
// ignores the request's port; "*.example.com" matches any subdomain, not the apex.
func hostMatches(pattern, host string) bool {
	if !strings.Contains(pattern, ":") {
		host = stripPort(host)
	}
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(host, suffix) && len(host) > len(suffix)
	}
	return pattern == host
}

func stripPort(host string) string {
	if strings.HasPrefix(host, "[") { // [::1]:8080
		if i := strings.Index(host, "]"); i >= 0 {
			return host[:i+1]
		}
		return host
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		return host[:i]
	}
	return host
}

// pathMatches is prefix matching on whole segments: "/api" and "/api/" both match "/api"
// and "/api/x", never "/apix".
func pathMatches(prefix, p string) bool {
	if prefix == "/" {
		return true
	}
	base := strings.TrimSuffix(prefix, "/")
	return p == base || strings.HasPrefix(p, base+"/")
}

// originalRequest reads the request a proxy asks about. nginx's auth_request sends
// X-Original-Method and X-Original-URI (set by the documented snippet) with the original
// Host; Caddy's forward_auth and Traefik's ForwardAuth send X-Forwarded-Method,
// -Uri and -Host. The nginx headers win when present, and then X-Forwarded-* are ignored:
// nginx passes a client's own X-Forwarded-Host through unless told otherwise.
func originalRequest(r *http.Request) (Request, bool) {
	h := r.Header
	var method, uri, host string
	if u := h.Get("X-Original-Uri"); u != "" {
		method, uri, host = h.Get("X-Original-Method"), u, r.Host
	} else {
		method, uri, host = h.Get("X-Forwarded-Method"), h.Get("X-Forwarded-Uri"), h.Get("X-Forwarded-Host")
		if host == "" {
			host = r.Host
		}
	}
	if method == "" {
		method = r.Method
	}
	if uri == "" {
		uri = "/"
	}
	p, ok := cleanPath(uri)
	if !ok {
		return Request{}, false
	}
	return Request{Method: strings.ToUpper(method), Host: strings.ToLower(host), Path: p}, true
}

// cleanPath drops the query, decodes the path and resolves dot segments, keeping a
// trailing slash. A path that does not decode is refused.
func cleanPath(uri string) (string, bool) {
	if i := strings.IndexAny(uri, "?#"); i >= 0 {
		uri = uri[:i]
	}
	if u, err := url.Parse(uri); err == nil && u.IsAbs() {
		uri = u.EscapedPath() // a full URL: keep its path
	}
	dec, err := url.PathUnescape(uri)
	if err != nil || strings.ContainsRune(dec, 0) {
		return "", false
	}
	if !strings.HasPrefix(dec, "/") {
		dec = "/" + dec
	}
	clean := path.Clean(dec)
	if strings.HasSuffix(dec, "/") && clean != "/" {
		clean += "/"
	}
	return clean, true
}

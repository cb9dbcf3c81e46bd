package doctor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Registry findings.
const (
	FindingRegistryRefused = "registry_refused"
	FindingRegistryDenied  = "registry_no_access"
	// FindingRegistryUntrusted: the token service signed a token the registry itself
	// refuses (its auth.token block does not match the instance).
	FindingRegistryUntrusted = "registry_untrusted"
)

// registry logs in to a container registry the way docker does (distribution's token
// flow), end to end: /v2/ answers 401 with a Bearer challenge naming the token service
// (GitLab's or Keygate's /jwt/auth) and its service name (container_registry), which is
// then asked, with the token as the Basic password, for pull access to the project's
// repository; the registry token it signs is presented back to the registry, at /v2/ and
// (with a project) on the repository's tag list. The registry JWT is decoded only to read
// its access list and is never printed.
func (r *Report) registry(ctx context.Context, cfg Config) {
	hc := cfg.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	base, u, ok := registryBase(cfg.Registry)
	if !ok {
		r.add(Check{Name: "registry", Status: Error, Message: fmt.Sprintf("--registry %q is not a host or URL", cfg.Registry)})
		return
	}
	resp, err := get(ctx, hc, base+"/v2/", nil)
	if err != nil {
		r.add(Check{Name: "registry", Status: Error, Finding: FindingUnreachable, Message: "no answer from " + base, Cause: err.Error(),
			Fix: "check the registry host name (often registry.<instance>) and that it is reachable from here"})
		return
	}
	resp.Body.Close()
	scheme, params, ok := ParseChallenge(resp.Header.Get("Www-Authenticate"))
	if resp.StatusCode == 200 {
		r.add(Check{Name: "registry", Status: OK, Message: base + " asks for no login"})
		return
	}
	if resp.StatusCode != 401 || !ok || !strings.EqualFold(scheme, "Bearer") || params["realm"] == "" {
		r.add(Check{Name: "registry", Status: Error, Finding: FindingNotGitLab,
			Message: fmt.Sprintf("%s/v2/ answered %d without a Bearer challenge", base, resp.StatusCode),
			Fix:     "pass the container registry's host, not the instance's"})
		return
	}
	q := url.Values{"service": {params["service"]}}
	repo := ""
	if cfg.Project != "" && !isNumeric(cfg.Project) {
		repo = strings.ToLower(strings.Trim(cfg.Project, "/"))
		q.Set("scope", "repository:"+repo+":pull")
	}
	user := "oauth2"
	if r.User != nil {
		user = r.User.Username
	}
	realm := params["realm"]
	sep := "?"
	if strings.Contains(realm, "?") {
		sep = "&"
	}
	tr, err := get(ctx, hc, realm+sep+q.Encode(), func(req *http.Request) { req.SetBasicAuth(user, cfg.Token.Reveal()) })
	if err != nil {
		r.add(Check{Name: "registry", Status: Error, Finding: FindingUnreachable, Message: "no answer from the token service " + realm, Cause: err.Error(), Fix: "retry"})
		return
	}
	defer tr.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(tr.Body, 1<<20))
	switch tr.StatusCode {
	case 200:
	case 401:
		r.add(Check{Name: "registry", Status: Fail, Finding: FindingRegistryRefused, Message: "the registry login was refused",
			Cause: "401 (HTTP Basic: Access denied): 401 means the token is expired, revoked or invalid",
			Fix:   "log in with a valid token as the password (`docker login " + u.Host + " -u " + user + " --password-stdin`); if it was revoked or expired, create a new one with read_registry (write_registry to push)"})
		return
	case 403:
		r.add(Check{Name: "registry", Status: Fail, Finding: FindingRegistryDenied, Message: "the token has no registry access",
			Cause: "403 (access forbidden): 403 means a missing scope or role; this token carries no registry ability (read_repository, read_user and the like do not reach the registry)",
			Fix:   "add the read_registry scope (write_registry to push; api or read_api also pull): create a token with it"})
		return
	default:
		r.add(Check{Name: "registry", Status: Error, Message: fmt.Sprintf("the token service %s answered %d", realm, tr.StatusCode),
			Fix: "404 means the instance's registry is not enabled, or the realm or service name (" + params["service"] + ") is wrong"})
		return
	}
	jwt, access := registryJWT(body)
	if jwt == "" {
		r.add(Check{Name: "registry", Status: Error, Message: "the token service answered 200 without a registry token", Fix: "check that the realm is the instance's /jwt/auth"})
		return
	}
	if repo != "" && !grantsPull(access, repo) {
		r.add(Check{Name: "registry", Status: Fail, Finding: FindingRegistryDenied,
			Message: "logged in to " + u.Host + ", but no pull access to " + repo,
			Cause:   "the token service grants nothing on that repository: a missing scope or role (or no access, or a wrong path)",
			Fix:     "pulling needs the read_registry (or read_api/api) scope and at least the Reporter role on " + cfg.Project})
		return
	}
	// The registry must accept what its token service signed: at /v2/, and on the
	// repository (404 there only means no image was pushed yet).
	bearer := func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+jwt) }
	probes := []string{base + "/v2/"}
	if repo != "" {
		probes = append(probes, base+"/v2/"+repo+"/tags/list")
	}
	for _, p := range probes {
		pr, err := get(ctx, hc, p, bearer)
		if err != nil {
			r.add(Check{Name: "registry", Status: Error, Finding: FindingUnreachable, Message: "no answer from " + base, Cause: err.Error(), Fix: "retry"})
			return
		}
		pr.Body.Close()
		if pr.StatusCode == 401 || pr.StatusCode == 403 {
			r.add(Check{Name: "registry", Status: Fail, Finding: FindingRegistryUntrusted,
				Message: fmt.Sprintf("the registry refused the token its token service signed (%d on %s)", pr.StatusCode, strings.TrimPrefix(p, base)),
				Cause:   "the registry's auth.token block does not match the instance: realm, service, issuer or rootcertbundle (the signing certificate)",
				Fix:     "configure the registry with the instance's auth.token block (Keygate: `keygate admin registry config`) and restart it"})
			return
		}
	}
	if repo == "" {
		r.add(Check{Name: "registry", Status: OK, Message: "logged in to " + u.Host + "; the registry accepts its token"})
		return
	}
	r.add(Check{Name: "registry", Status: OK, Message: "logged in to " + u.Host + " with pull access to " + repo})
}

// registryBase is the registry's base URL: a bare host is HTTPS, except on loopback
// (localhost, 127.0.0.0/8, ::1), which docker reaches over plain HTTP too.
func registryBase(host string) (string, *url.URL, bool) {
	base := strings.TrimRight(host, "/")
	if !strings.Contains(base, "://") {
		h := base
		if hh, _, err := net.SplitHostPort(base); err == nil {
			h = hh
		}
		scheme := "https://"
		if ip := net.ParseIP(strings.Trim(h, "[]")); h == "localhost" || (ip != nil && ip.IsLoopback()) {
			scheme = "http://"
		}
		base = scheme + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", nil, false
	}
	return base, u, true
}

func get(ctx context.Context, hc *http.Client, u string, auth func(*http.Request)) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	if auth != nil {
		auth(req)
	}
	return hc.Do(req)
}

// registryAccess is one entry of a registry JWT's access claim.
type registryAccess struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// registryJWT reads the token service's answer: the JWT ({"token"} or {"access_token"})
// and its access list (its payload, unverified: only the registry needs to trust it).
func registryJWT(body []byte) (string, []registryAccess) {
	var ans struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(body, &ans) != nil {
		return "", nil
	}
	jwt := ans.Token
	if jwt == "" {
		jwt = ans.AccessToken
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", nil
	}
	var claims struct {
		Access []registryAccess `json:"access"`
	}
	if payload, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
		_ = json.Unmarshal(payload, &claims) // an unreadable payload grants nothing
	}
	return jwt, claims.Access
}

// grantsPull reports pull on repo in an access list.
func grantsPull(access []registryAccess, repo string) bool {
	for _, a := range access {
		if a.Type == "repository" && a.Name == repo {
			for _, act := range a.Actions {
				if act == "pull" || act == "*" {
					return true
				}
			}
		}
	}
	return false
}

// ParseChallenge splits a WWW-Authenticate value of one challenge into its scheme and
// its auth-params (quoted or token values; keys lowercased).
func ParseChallenge(h string) (scheme string, params map[string]string, ok bool) {
	h = strings.TrimSpace(h)
	scheme, rest, _ := strings.Cut(h, " ")
	if scheme == "" || strings.ContainsAny(scheme, ",=\"") {
		return "", nil, false
	}
	params = map[string]string{}
	for rest = strings.TrimSpace(rest); rest != ""; {
		k, after, found := strings.Cut(rest, "=")
		if !found {
			return "", nil, false
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "" || strings.ContainsAny(k, " \t,\"") {
			return "", nil, false
		}
		var v string
		if strings.HasPrefix(after, `"`) {
			end := strings.IndexByte(after[1:], '"')
			if end < 0 {
				return "", nil, false
			}
			v, rest = after[1:1+end], after[2+end:]
		} else {
			v, rest, _ = strings.Cut(after, ",")
			v = strings.TrimSpace(v)
			rest = "," + rest
		}
		params[k] = v
		rest = strings.TrimSpace(rest)
		if rest != "" {
			if rest[0] != ',' {
				return "", nil, false
			}
			rest = strings.TrimSpace(rest[1:])
		}
	}
	return scheme, params, true
}

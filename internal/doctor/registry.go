package doctor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Registry findings.
const (
	FindingRegistryRefused = "registry_refused"
	FindingRegistryDenied  = "registry_no_access"
)

// registry logs in to a container registry the way docker does (distribution's token
// flow): /v2/ answers 401 with a Bearer challenge naming the token service (GitLab's
// /jwt/auth), which is then asked, with the token as the Basic password, for pull access
// to the project's repository. The registry JWT is decoded only to read its access list
// and is never printed.
func (r *Report) registry(ctx context.Context, cfg Config) {
	hc := cfg.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	base := strings.TrimRight(cfg.Registry, "/")
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		r.add(Check{Name: "registry", Status: Error, Message: fmt.Sprintf("--registry %q is not a host or URL", cfg.Registry)})
		return
	}
	resp, err := get(ctx, hc, base+"/v2/", "", "")
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
		repo = strings.ToLower(cfg.Project)
		q.Set("scope", "repository:"+repo+":pull")
	}
	user := "oauth2"
	if r.User != nil {
		user = r.User.Username
	}
	tr, err := get(ctx, hc, params["realm"]+"?"+q.Encode(), user, cfg.Token.Reveal())
	if err != nil {
		r.add(Check{Name: "registry", Status: Error, Finding: FindingUnreachable, Message: "no answer from the token service " + params["realm"], Cause: err.Error(), Fix: "retry"})
		return
	}
	defer tr.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(tr.Body, 1<<20))
	switch tr.StatusCode {
	case 200:
	case 401:
		r.add(Check{Name: "registry", Status: Fail, Finding: FindingRegistryRefused, Message: "the registry login was refused",
			Cause: "401 (HTTP Basic: Access denied): 401 means the token is expired or invalid",
			Fix:   "log in with the token as the password (`docker login " + u.Host + " -u " + user + " --password-stdin`); check the token with the checks above"})
		return
	case 403:
		r.add(Check{Name: "registry", Status: Fail, Finding: FindingMissingScope, Message: "the token has no registry access",
			Cause: "403 (access forbidden): 403 means a missing scope or role; this token has no registry scope",
			Fix:   "add the read_registry scope (write_registry to push): create a token with it"})
		return
	default:
		r.add(Check{Name: "registry", Status: Error, Message: fmt.Sprintf("the token service answered %d", tr.StatusCode),
			Fix: "404 means the instance's registry is not enabled, or the realm is wrong"})
		return
	}
	if repo == "" {
		r.add(Check{Name: "registry", Status: OK, Message: "logged in to " + u.Host})
		return
	}
	if !grantsPull(body, repo) {
		r.add(Check{Name: "registry", Status: Fail, Finding: FindingRegistryDenied,
			Message: "logged in to " + u.Host + ", but no pull access to " + repo,
			Cause:   "the token service grants nothing on that repository: a missing scope or role (or no access, or a wrong path)",
			Fix:     "pulling needs the read_registry (or read_api/api) scope and at least the Reporter role on " + cfg.Project})
		return
	}
	r.add(Check{Name: "registry", Status: OK, Message: "logged in to " + u.Host + " with pull access to " + repo})
}

func get(ctx context.Context, hc *http.Client, u, user, pass string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	if pass != "" {
		req.SetBasicAuth(user, pass)
	}
	return hc.Do(req)
}

// grantsPull reads the access list of the answered registry JWT (its payload, unverified:
// only the registry needs to trust it) and reports pull on repo.
func grantsPull(body []byte, repo string) bool {
	var ans struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(body, &ans) != nil {
		return false
	}
	jwt := ans.Token
	if jwt == "" {
		jwt = ans.AccessToken
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		Access []struct {
			Type    string   `json:"type"`
			Name    string   `json:"name"`
			Actions []string `json:"actions"`
		} `json:"access"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return false
	}
	for _, a := range claims.Access {
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

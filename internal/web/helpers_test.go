package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

const testPassword = "correct horse battery"

// setPassword gives a user a password through the service, as an administrator would.
func setPassword(t *testing.T, s *keygatetest.Server, userID int64, pw string) {
	t.Helper()
	if _, err := s.Service.UpdateUser(context.Background(), authz.SystemSubject(), userID, service.UserInput{Password: &pw}); err != nil {
		t.Fatalf("set password: %v", err)
	}
}

// user creates a user with testPassword.
func user(t *testing.T, s *keygatetest.Server, name string, admin bool) keygate.User {
	t.Helper()
	u := s.User(t, name, admin)
	setPassword(t, s, u.ID, testPassword)
	return u
}

// client is a browser-like HTTP client: a cookie jar, no redirects followed.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newClient(t *testing.T, s *keygatetest.Server) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: s.URL, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	status int
	body   string
	header http.Header
}

func (c *client) do(method, path string, form url.Values, hdr ...string) response {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: string(b), header: resp.Header}
}

func (c *client) get(path string) response { c.t.Helper(); return c.do("GET", path, nil) }

var csrfRE = regexp.MustCompile(`name="authenticity_token" value="([^"]+)"`)

// csrf reads the CSRF token of the first form on a page.
func (c *client) csrf(path string) string {
	c.t.Helper()
	p := c.get(path)
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		c.t.Fatalf("GET %s: no CSRF token (status %d)", path, p.status)
	}
	return m[1]
}

// post sends a form with the CSRF token of the page it came from.
func (c *client) post(from, path string, form url.Values) response {
	c.t.Helper()
	form.Set("authenticity_token", c.csrf(from))
	return c.do("POST", path, form)
}

// signIn signs in through the form and fails the test unless it works.
func (c *client) signIn(login, pw string) {
	c.t.Helper()
	p := c.post("/users/sign_in", "/users/sign_in", url.Values{"login": {login}, "password": {pw}})
	if p.status != http.StatusSeeOther {
		c.t.Fatalf("sign in as %s = %d, want 303\n%s", login, p.status, p.body)
	}
}

func (c *client) cookie(name string) string {
	u, _ := url.Parse(c.base)
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

var tokenRE = regexp.MustCompile(`id="created-token" type="text" readonly value="([^"]+)"`)

// createdToken reads the token a page shows once ("" if none).
func createdToken(body string) string {
	m := tokenRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// apiStatus calls GET /api/v4/user with a token.
func apiStatus(t *testing.T, s *keygatetest.Server, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", s.API+"/user", nil)
	req.Header.Set("PRIVATE-TOKEN", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// apiJSON calls the API with root's token and decodes the answer into out (nil: none).
func apiJSON(t *testing.T, s *keygatetest.Server, method, path string, body map[string]any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.API+path, rd)
	req.Header.Set("PRIVATE-TOKEN", s.RootToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// project creates a project in root's namespace and makes member a member at level.
func project(t *testing.T, s *keygatetest.Server, name string, member keygate.User, level keygate.AccessLevel) int64 {
	t.Helper()
	var p struct {
		ID int64 `json:"id"`
	}
	if st := apiJSON(t, s, "POST", "/projects", map[string]any{"name": name, "path": name}, &p); st != 201 {
		t.Fatalf("create project = %d", st)
	}
	if member.ID != 0 {
		if st := apiJSON(t, s, "POST", "/projects/"+strconv.FormatInt(p.ID, 10)+"/members", map[string]any{"user_id": member.ID, "access_level": int(level)}, nil); st != 201 {
			t.Fatalf("add member = %d", st)
		}
	}
	return p.ID
}

// group creates a top-level group with member at level.
func group(t *testing.T, s *keygatetest.Server, path string, member keygate.User, level keygate.AccessLevel) int64 {
	t.Helper()
	var g struct {
		ID int64 `json:"id"`
	}
	if st := apiJSON(t, s, "POST", "/groups", map[string]any{"name": path, "path": path}, &g); st != 201 {
		t.Fatalf("create group = %d", st)
	}
	if member.ID != 0 {
		if st := apiJSON(t, s, "POST", "/groups/"+strconv.FormatInt(g.ID, 10)+"/members", map[string]any{"user_id": member.ID, "access_level": int(level)}, nil); st != 201 {
			t.Fatalf("add member = %d", st)
		}
	}
	return g.ID
}

// tokenStatus calls an API path with a token.
func tokenStatus(t *testing.T, s *keygatetest.Server, token, path string) int {
	t.Helper()
	st, _ := tokenBody(t, s, token, path)
	return st
}

// tokenBody calls an API path with a token and returns the status and body.
func tokenBody(t *testing.T, s *keygatetest.Server, token, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.API+path, nil)
	req.Header.Set("PRIVATE-TOKEN", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Package remote is a small client for the parts of GitLab's REST API v4 that the
// integrator tools (doctor, connections) read: the version, the current user, the token
// itself, a project and a member, and the self-rotation endpoints. It works against
// GitLab and Keygate alike and tells them apart by the version string.
package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/secret"
)

// KeygateSuffix ends the version Keygate reports (`19.6.0-keygate`).
const KeygateSuffix = "-keygate"

// Client talks to one instance with one token.
type Client struct {
	base  string // https://host/api/v4
	token secret.Token
	http  *http.Client
}

// New returns a client for instance (its base URL, with or without /api/v4). hc nil
// means a client with a 30-second timeout.
func New(instance string, tok secret.Token, hc *http.Client) (*Client, error) {
	base, err := APIBase(instance)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: base, token: tok, http: hc}, nil
}

// APIBase turns an instance URL into its API base (…/api/v4).
func APIBase(instance string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(instance))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("instance URL %q: want http(s)://host[/path]", instance)
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/api/v4")
	u.Path, u.RawQuery, u.Fragment = p+"/api/v4", "", ""
	return u.String(), nil
}

// InstanceURL is the instance's web base (the API base without /api/v4).
func (c *Client) InstanceURL() string { return strings.TrimSuffix(c.base, "/api/v4") }

// Error is an answer other than 2xx, with GitLab's message fields.
type Error struct {
	Method, Path string
	Status       int
	// Code is the OAuth "error" field ("invalid_token", "insufficient_scope"), if any.
	Code string
	// Message is "message", "error_description" or "error", whichever the body had.
	Message string
	// Scope is the scope an insufficient_scope answer names.
	Scope string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, e.Message)
}

// Expired reports a 401 for an expired token.
func (e *Error) Expired() bool {
	return e.Status == 401 && strings.Contains(strings.ToLower(e.Message), "expired")
}

// Revoked reports a 401 for a revoked token.
func (e *Error) Revoked() bool {
	return e.Status == 401 && strings.Contains(strings.ToLower(e.Message), "revoked")
}

// InsufficientScope reports a 403 for a token that lacks a scope.
func (e *Error) InsufficientScope() bool {
	return e.Status == 403 && e.Code == "insufficient_scope"
}

// NetError is a failure to get any HTTP answer (DNS, refused, TLS, timeout).
type NetError struct{ Err error }

func (e *NetError) Error() string { return "unreachable: " + e.Err.Error() }
func (e *NetError) Unwrap() error { return e.Err }

// AsError returns err as an *Error if it is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Unreachable reports whether err is a transport failure.
func Unreachable(err error) bool {
	var n *NetError
	return errors.As(err, &n)
}

// Request options.
type reqOpts struct {
	body    url.Values
	headers map[string]string
}

func (c *Client) do(ctx context.Context, method, path string, o reqOpts, out any) error {
	var body io.Reader
	if o.body != nil {
		body = strings.NewReader(o.body.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if o.body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "keygate-client")
	if !c.token.IsZero() {
		req.Header.Set("Private-Token", c.token.Reveal())
	}
	for k, v := range o.headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// url.Error repeats the URL, never the headers, so the token stays out.
		return &NetError{Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &NetError{Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errorOf(method, path, resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: answer is not the JSON of a GitLab API (%v)", method, path, err)
	}
	return nil
}

func errorOf(method, path string, status int, b []byte) *Error {
	e := &Error{Method: method, Path: path, Status: status}
	var v struct {
		Message          any    `json:"message"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		Scope            string `json:"scope"`
	}
	if json.Unmarshal(b, &v) == nil {
		e.Code, e.Scope = v.Error, v.Scope
		switch m := v.Message.(type) {
		case string:
			e.Message = m
		case nil:
		default:
			mb, _ := json.Marshal(m)
			e.Message = string(mb)
		}
		if v.ErrorDescription != "" {
			e.Message = v.ErrorDescription
		}
		if e.Message == "" {
			e.Message = v.Error
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// Version is /version.
type Version struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
}

// Keygate reports whether the server is Keygate (it offers Idempotency-Key on rotate).
func (v Version) Keygate() bool { return strings.HasSuffix(v.Version, KeygateSuffix) }

// Version reads /version (authenticated, as on GitLab).
func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	err := c.do(ctx, "GET", "/version", reqOpts{}, &v)
	return v, err
}

// User is what the tools read of /user.
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	State    string `json:"state"`
	Bot      bool   `json:"bot"`
	IsAdmin  bool   `json:"is_admin"`
}

// User reads /user.
func (c *Client) User(ctx context.Context) (User, error) {
	var u User
	err := c.do(ctx, "GET", "/user", reqOpts{}, &u)
	return u, err
}

// Token is what the tools read of a token object.
type Token struct {
	ID        int64    `json:"id"`
	Name      string   `json:"name"`
	Active    bool     `json:"active"`
	Revoked   bool     `json:"revoked"`
	Scopes    []string `json:"scopes"`
	UserID    int64    `json:"user_id"`
	CreatedAt string   `json:"created_at"`
	ExpiresAt *string  `json:"expires_at"`
	// Secret is set only on a rotation's answer.
	Secret string `json:"token,omitempty"`
	// AccessLevel is set on resource tokens.
	AccessLevel int `json:"access_level,omitempty"`
}

// HasScope reports whether the token carries s.
func (t Token) HasScope(s string) bool {
	for _, x := range t.Scopes {
		if x == s {
			return true
		}
	}
	return false
}

// SelfToken reads /personal_access_tokens/self.
func (c *Client) SelfToken(ctx context.Context) (Token, error) {
	var t Token
	err := c.do(ctx, "GET", "/personal_access_tokens/self", reqOpts{}, &t)
	return t, err
}

// Project is what the tools read of a project.
type Project struct {
	ID                int64  `json:"id"`
	PathWithNamespace string `json:"path_with_namespace"`
	HTTPURLToRepo     string `json:"http_url_to_repo"`
	Visibility        string `json:"visibility"`
}

// Project reads /projects/:id by ID or full path.
func (c *Client) Project(ctx context.Context, ref string) (Project, error) {
	var p Project
	err := c.do(ctx, "GET", "/projects/"+url.PathEscape(ref), reqOpts{}, &p)
	return p, err
}

// Member is a membership as /members/all/:user_id answers it.
type Member struct {
	ID          int64 `json:"id"`
	AccessLevel int   `json:"access_level"`
}

// ProjectMember reads a user's effective membership of a project, inherited included.
func (c *Client) ProjectMember(ctx context.Context, projectID, userID int64) (Member, error) {
	var m Member
	err := c.do(ctx, "GET", "/projects/"+strconv.FormatInt(projectID, 10)+"/members/all/"+strconv.FormatInt(userID, 10), reqOpts{}, &m)
	return m, err
}

// RotateSelf rotates the client's own token at path (one of SelfRotatePath's answers).
// idemKey, when set, is sent as Idempotency-Key (Keygate); expiresAt "" leaves the
// server's default.
func (c *Client) RotateSelf(ctx context.Context, path, expiresAt, idemKey string) (Token, error) {
	o := reqOpts{body: url.Values{}}
	if expiresAt != "" {
		o.body.Set("expires_at", expiresAt)
	}
	if idemKey != "" {
		o.headers = map[string]string{"Idempotency-Key": idemKey}
	}
	var t Token
	err := c.do(ctx, "POST", path, o, &t)
	return t, err
}

// SelfRotatePath is the self-rotation endpoint for a token owned by user: a project or
// group bot rotates through its resource (`project_<id>_bot_…`, `group_<id>_bot_…`),
// anyone else through /personal_access_tokens/self/rotate.
func SelfRotatePath(u User) string {
	if kind, id, ok := BotSource(u); ok {
		return "/" + kind + "s/" + strconv.FormatInt(id, 10) + "/access_tokens/self/rotate"
	}
	return "/personal_access_tokens/self/rotate"
}

// BotSource parses a resource bot's username into "project" or "group" and the ID.
func BotSource(u User) (kind string, id int64, ok bool) {
	if !u.Bot {
		return "", 0, false
	}
	for _, k := range []string{"project", "group"} {
		rest, found := strings.CutPrefix(u.Username, k+"_")
		if !found {
			continue
		}
		num, _, found := strings.Cut(rest, "_bot")
		if !found {
			continue
		}
		if n, err := strconv.ParseInt(num, 10, 64); err == nil && n > 0 {
			return k, n, true
		}
	}
	return "", 0, false
}

// TokenType names the kind of token u's token is, in the gate file's vocabulary:
// personal, project, group, service_account.
func TokenType(u User) string {
	if kind, _, ok := BotSource(u); ok {
		return kind
	}
	if strings.HasPrefix(u.Username, "service_account_") {
		return "service_account"
	}
	return "personal"
}

// DaysLeft counts the days from now's UTC date to an expires_at date. A token stops
// working at 00:00 UTC of its expires_at, so 0 or less means it has expired. ok is false
// for a token without an expiry.
func DaysLeft(expiresAt *string, now time.Time) (int, bool) {
	if expiresAt == nil || *expiresAt == "" {
		return 0, false
	}
	d, err := time.Parse("2006-01-02", *expiresAt)
	if err != nil {
		return 0, false
	}
	today := time.Date(now.UTC().Year(), now.UTC().Month(), now.UTC().Day(), 0, 0, 0, 0, time.UTC)
	return int(d.Sub(today).Hours() / 24), true
}

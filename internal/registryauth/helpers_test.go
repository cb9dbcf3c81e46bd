package registryauth_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/registryauth"
	"github.com/keygate/keygate/internal/service"
)

// world is the fixture: olga owns a private group "grp" with project "app", a public
// group "pub" with "site" and an internal group "int" with "tool"; in grp, mia is a
// Maintainer, dev a Developer, rep a Reporter and gus a Guest; sam belongs to nothing.
type world struct {
	t   testing.TB
	srv *keygatetest.Server
	u   map[string]keygate.User
	p   map[string]keygate.Project
	grp keygate.Group
}

func newWorld(t testing.TB, o keygatetest.Options) *world {
	t.Helper()
	srv := keygatetest.NewServerWith(t, o)
	w := &world{t: t, srv: srv, u: map[string]keygate.User{}, p: map[string]keygate.Project{}}
	for _, name := range []string{"olga", "mia", "dev", "rep", "gus", "sam"} {
		w.u[name] = srv.User(t, name, false)
	}
	olga := authz.Subject{User: w.u["olga"]}
	for _, g := range []struct {
		path, project string
		vis           keygate.Visibility
	}{{"grp", "app", keygate.Private}, {"pub", "site", keygate.Public}, {"int", "tool", keygate.Internal}} {
		grp, err := srv.Service.CreateGroup(context.Background(), olga, service.NamespaceInput{Name: &g.path, Path: &g.path, Visibility: &g.vis})
		if err != nil {
			t.Fatalf("CreateGroup(%s): %v", g.path, err)
		}
		if g.path == "grp" {
			w.grp = grp
		}
		w.p[g.project] = w.project(olga, g.project, g.vis, grp.ID)
	}
	for name, level := range map[string]keygate.AccessLevel{"mia": keygate.Maintainer, "dev": keygate.Developer, "rep": keygate.Reporter, "gus": keygate.Guest} {
		w.member(w.u[name].ID, level)
	}
	return w
}

// pubGroup is the ID of the public group pub.
func (w *world) pubGroup(t testing.TB) int64 { return w.p["site"].NamespaceID }

func (w *world) project(sub authz.Subject, name string, vis keygate.Visibility, ns int64) keygate.Project {
	w.t.Helper()
	p, err := w.srv.Service.CreateProject(context.Background(), sub, service.NamespaceInput{Name: &name, Visibility: &vis, ParentID: ns})
	if err != nil {
		w.t.Fatalf("CreateProject(%s): %v", name, err)
	}
	return p
}

func (w *world) groupSource() service.Source {
	w.t.Helper()
	ctx := context.Background()
	res, err := w.srv.Service.GroupAccess(ctx, authz.SystemSubject(), w.grp)
	if err != nil {
		w.t.Fatal(err)
	}
	src, err := w.srv.Service.GroupSource(ctx, w.grp, res)
	if err != nil {
		w.t.Fatal(err)
	}
	return src
}

func (w *world) projectSource(p keygate.Project) service.Source {
	w.t.Helper()
	ctx := context.Background()
	res, err := w.srv.Service.ProjectAccess(ctx, authz.SystemSubject(), p)
	if err != nil {
		w.t.Fatal(err)
	}
	src, err := w.srv.Service.ProjectSource(ctx, p, res)
	if err != nil {
		w.t.Fatal(err)
	}
	return src
}

func (w *world) member(uid int64, level keygate.AccessLevel) {
	w.t.Helper()
	if _, err := w.srv.Service.AddMember(context.Background(), authz.SystemSubject(), w.groupSource(), service.MemberInput{UserID: uid, AccessLevel: level}); err != nil {
		w.t.Fatalf("AddMember: %v", err)
	}
}

// pat issues a personal access token of user.
func (w *world) pat(user string, scopes ...keygate.Scope) string {
	w.t.Helper()
	return w.srv.Token(w.t, w.u[user].ID, user+"-"+strconv.Itoa(len(scopes))+string(scopes[0]), scopes...)
}

// projectToken issues a project access token of p at level.
func (w *world) projectToken(p keygate.Project, level keygate.AccessLevel, scopes ...keygate.Scope) string {
	w.t.Helper()
	rt, err := w.srv.Service.CreateResourceToken(context.Background(), authz.SystemSubject(), w.projectSource(p), service.ResourceTokenInput{
		TokenInput: service.TokenInput{Name: "registry-" + level.String(), Scopes: scopes}, AccessLevel: level,
	})
	if err != nil {
		w.t.Fatalf("CreateResourceToken: %v", err)
	}
	return rt.Secret.Reveal()
}

// job starts a job in p for user and returns its token.
func (w *world) job(user string, p keygate.Project) string {
	w.t.Helper()
	ctx := context.Background()
	sub := authz.Subject{User: w.u[user]}
	res, err := w.srv.Service.ProjectAccess(ctx, sub, p)
	if err != nil {
		w.t.Fatal(err)
	}
	sj, err := w.srv.Service.StartJob(ctx, sub, p, res, service.JobInput{})
	if err != nil {
		w.t.Fatalf("StartJob: %v", err)
	}
	return sj.Secret.Reveal()
}

// answer is a /jwt/auth response.
type answer struct {
	status int
	body   string
	header http.Header
}

// auth calls /jwt/auth with method, Basic credentials (user "" and pass "": none) and a
// raw query.
func (w *world) auth(method, user, pass, query string) answer {
	w.t.Helper()
	req, err := http.NewRequest(method, w.srv.URL+registryauth.Path+"?"+query, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: string(b), header: resp.Header}
}

// scopes builds the query of a registry request for scopes.
func scopes(ss ...string) string {
	q := url.Values{"service": {"container_registry"}}
	for _, s := range ss {
		q.Add("scope", s)
	}
	return q.Encode()
}

// jwtClaims are the decoded claims of a registry token.
type jwtClaims struct {
	Iss    string                `json:"iss"`
	Sub    *string               `json:"sub"`
	Aud    any                   `json:"aud"`
	Iat    int64                 `json:"iat"`
	Nbf    int64                 `json:"nbf"`
	Exp    int64                 `json:"exp"`
	Jti    string                `json:"jti"`
	Access []registryauth.Access `json:"access"`
}

// token checks a 200 answer and decodes its JWT after verifying the signature with pub.
func token(t testing.TB, a answer, pub *rsa.PublicKey) (header map[string]any, c jwtClaims) {
	t.Helper()
	if a.status != 200 {
		t.Fatalf("status = %d %s, want 200", a.status, a.body)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(a.body), &body); err != nil || len(body) != 1 {
		t.Fatalf("body = %s, want exactly {\"token\":…}", a.body)
	}
	tok, _ := body["token"].(string)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a compact JWS", tok)
	}
	enc := base64.RawURLEncoding
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatalf("token parts do not decode: %v %v %v", err1, err2, err3)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("token signature: %v", err)
	}
	if err := json.Unmarshal(hb, &header); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(cb, &c); err != nil {
		t.Fatalf("claims %s: %v", cb, err)
	}
	return header, c
}

// accessOf is the access claim of a 200 answer.
func (w *world) accessOf(a answer) []registryauth.Access {
	w.t.Helper()
	_, c := token(w.t, a, w.srv.RegistrySigner.Public())
	return c.Access
}

func accessString(as []registryauth.Access) string {
	b, _ := json.Marshal(as)
	return string(b)
}

package api

import (
	"net/http"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/service"
	"github.com/keygate/keygate/internal/store"
)

// tokenInput reads name, description, scopes and expires_at with Grape's validation:
// required parameters first, then allowed values.
func tokenInput(p *params, allowed func(keygate.Scope) bool) (service.TokenInput, error) {
	var in service.TokenInput
	name, err := p.requiredStr("name")
	if err != nil {
		return in, err
	}
	in.Name = name
	raw, ok, err := p.list("scopes")
	if err != nil {
		return in, err
	}
	grant, granular, err := granularInput(p)
	switch {
	case err != nil:
		return in, err
	case ok && granular:
		return in, paramError(msgScopesExclusive)
	case granular:
		in.Granular = grant
		if in.Granular == nil {
			in.Granular = []service.GranularRequest{} // given but empty: the service says so
		}
		return tokenInputRest(p, in)
	}
	if !ok {
		return in, paramError("scopes is missing")
	}
	scopes, err := keygate.ParseScopes(raw...)
	if err != nil {
		return in, paramError("scopes does not have a valid value")
	}
	if len(scopes) == 0 {
		return in, paramError("scopes is empty")
	}
	for _, s := range scopes {
		if allowed != nil && !allowed(s) {
			return in, paramError("scopes does not have a valid value")
		}
	}
	in.Scopes = scopes
	return tokenInputRest(p, in)
}

// tokenInputRest reads the parameters after the scopes.
func tokenInputRest(p *params, in service.TokenInput) (service.TokenInput, error) {
	var err error
	if d, ok, err := p.str("description"); err != nil {
		return in, err
	} else if ok {
		in.Description = d
	}
	if in.ExpiresAt, err = p.date("expires_at"); err != nil {
		return in, err
	}
	return in, nil
}

// createError renders a failed token creation as lib/api/users.rb does: the service's
// message with 422, except a date that has already begun (a Keygate rule, see
// docs/compatibility.md), which is a 400.
func createError(err error) error {
	ke, ok := err.(*keygate.Error)
	if !ok || ke.Code != keygate.CodeInvalid {
		return err
	}
	if ke.Field == "expires_at" && ke.Message == service.MsgExpiryInPast {
		return badRequest(ke.Message)
	}
	return message(422, ke.Message)
}

func (a *API) createTokenForUser(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "user_id")
	if err != nil {
		return err
	}
	in, err := tokenInput(c.p, nil)
	if err != nil {
		return err
	}
	iss, err := a.svc.CreatePersonalToken(r.Context(), c.subject, id, in)
	if err != nil {
		return createError(granularErr(err))
	}
	writeJSON(w, 201, a.issued(iss))
	return nil
}

// selfCreatableScopes are the scopes POST /user/personal_access_tokens accepts (newest
// GitLab docs: k8s_proxy and self_rotate).
func selfCreatableScope(s keygate.Scope) bool {
	return s == keygate.ScopeK8sProxy || s == keygate.ScopeSelfRotate
}

func (a *API) createTokenForSelf(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := tokenInput(c.p, selfCreatableScope)
	if err != nil {
		return err
	}
	iss, err := a.svc.CreatePersonalToken(r.Context(), c.subject, c.principal.User.ID, in)
	if err != nil {
		return createError(granularErr(err))
	}
	writeJSON(w, 201, a.issued(iss))
	return nil
}

func (a *API) issued(iss service.Issued) tokenWithSecretJSON {
	return tokenWithSecretJSON{tokenJSON: a.token(iss.Token), LastUsedIPs: []string{}, Token: iss.Secret.Reveal()}
}

// tokenSorts are the sort values GitLab knows; others are ignored, as GitLab does.
var tokenSorts = map[string]bool{
	"created_asc": true, "created_desc": true, "expires_asc": true, "expires_desc": true,
	"last_used_asc": true, "last_used_desc": true, "name_asc": true, "name_desc": true,
}

// tokenFilter reads the filters of the token list endpoints.
func tokenFilter(p *params) (store.TokenFilter, error) {
	var f store.TokenFilter
	var err error
	if f.Page, err = p.page(); err != nil {
		return f, err
	}
	if f.Revoked, err = p.boolean("revoked"); err != nil {
		return f, err
	}
	if f.State, err = p.oneOf("state", "active", "inactive"); err != nil {
		return f, err
	}
	if f.Granular, err = p.boolean("granular"); err != nil { // Keygate extension
		return f, err
	}
	for name, dst := range map[string]**keygate.Date{"expires_before": &f.ExpiresBefore, "expires_after": &f.ExpiresAfter} {
		if *dst, err = p.date(name); err != nil {
			return f, err
		}
	}
	for name, dst := range map[string]**time.Time{
		"created_before": &f.CreatedBefore, "created_after": &f.CreatedAfter,
		"last_used_before": &f.LastUsedBefore, "last_used_after": &f.LastUsedAfter,
	} {
		if *dst, err = p.datetime(name); err != nil {
			return f, err
		}
	}
	if s, ok, err := p.str("search"); err != nil {
		return f, err
	} else if ok {
		f.Search = s
	}
	if s, _, err := p.str("sort"); err != nil {
		return f, err
	} else if tokenSorts[s] {
		f.Sort = s
	}
	return f, nil
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := tokenFilter(c.p)
	if err != nil {
		return err
	}
	if c.p.has("user_id") {
		id, err := c.p.integer("user_id")
		if err != nil {
			return err
		}
		if id == nil || *id <= 0 {
			if c.subject.Admin() {
				return notFound("")
			}
			return unauthorized()
		}
		f.UserID = *id
	}
	tokens, total, err := a.svc.Tokens(r.Context(), c.subject, f)
	if err != nil {
		if keygate.ErrorCode(err) == keygate.CodeNotFound {
			return notFound("") // GitLab's finder_params: not_found! without a name
		}
		return err
	}
	paginate(w, r, f.Page, total, a.externalURL)
	out := make([]tokenWithIPsJSON, len(tokens))
	for i, t := range tokens {
		out[i] = a.tokenWithIPs(t)
	}
	writeJSON(w, 200, out)
	return nil
}

func (a *API) getToken(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	t, err := a.svc.Token(r.Context(), c.subject, id)
	if err != nil {
		return err
	}
	writeJSON(w, 200, a.tokenWithIPs(t))
	return nil
}

func (a *API) getSelfToken(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := a.svc.TokenByID(r.Context(), c.principal.Token.ID)
	if err != nil {
		return err
	}
	writeJSON(w, 200, a.tokenWithIPs(t))
	return nil
}

// rotateError: rotation failures are bad requests (`bad_request!(service.message)`).
func rotateError(err error) error {
	if ke, ok := err.(*keygate.Error); ok && ke.Code == keygate.CodeInvalid {
		return badRequest(ke.Message)
	}
	return err
}

func (a *API) rotateToken(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	exp, err := c.p.date("expires_at")
	if err != nil {
		return err
	}
	iss, err := a.svc.Rotate(r.Context(), c.subject, id, exp)
	if err != nil {
		return rotateError(granularErr(err))
	}
	writeJSON(w, 200, a.issued(iss))
	return nil
}

func (a *API) rotateSelfToken(w http.ResponseWriter, r *http.Request, c *call) error {
	exp, err := c.p.date("expires_at")
	if err != nil {
		return err
	}
	iss, err := a.svc.RotateSelf(r.Context(), *c.principal, exp)
	if err != nil {
		return rotateError(granularErr(err))
	}
	writeJSON(w, 200, a.issued(iss))
	return nil
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := a.svc.Revoke(r.Context(), c.subject, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) revokeSelfToken(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := a.svc.RevokeSelf(r.Context(), *c.principal); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

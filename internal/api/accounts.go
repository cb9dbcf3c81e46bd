package api

import (
	"net/http"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/service"
	"github.com/keygate/keygate/internal/store"
)

// --- service accounts ---

func (a *API) serviceAccount(u keygate.User) serviceAccountJSON {
	return serviceAccountJSON{ID: u.ID, Username: u.Username, Name: u.Name, Email: u.Email}
}

func serviceAccountInput(p *params) (service.ServiceAccountInput, error) {
	var in service.ServiceAccountInput
	var err error
	if in.Name, err = p.strPtr("name"); err != nil {
		return in, err
	}
	if in.Username, err = p.strPtr("username"); err != nil {
		return in, err
	}
	in.Email, err = p.strPtr("email")
	return in, err
}

// serviceAccountError: service-account refusals are 400 "400 Bad request - …".
func serviceAccountError(err error) error {
	if ke, ok := err.(*keygate.Error); ok && ke.Code == keygate.CodeInvalid {
		return badRequest(ke.Message)
	}
	return err
}

func (a *API) groupID(c *call) int64 {
	if c.res.Kind == authz.KindGroup {
		return c.group.ID
	}
	return 0
}

func (a *API) createServiceAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := serviceAccountInput(c.p)
	if err != nil {
		return err
	}
	gid := a.groupID(c)
	if gid != 0 && c.group.ParentID != 0 {
		return badRequest("Group service accounts can only be created in top-level groups")
	}
	u, err := a.svc.CreateServiceAccount(r.Context(), c.subject, gid, in)
	if err != nil {
		return serviceAccountError(err)
	}
	writeJSON(w, 201, a.serviceAccount(u))
	return nil
}

func (a *API) listServiceAccounts(w http.ResponseWriter, r *http.Request, c *call) error {
	pg, err := c.p.page()
	if err != nil {
		return err
	}
	orderBy, err := c.p.oneOf("order_by", "id", "username")
	if err != nil {
		return err
	}
	sort, err := c.p.oneOf("sort", "asc", "desc")
	if err != nil {
		return err
	}
	us, total, err := a.svc.ServiceAccounts(r.Context(), a.groupID(c), orderBy, sort, pg)
	if err != nil {
		return err
	}
	paginate(w, r, pg, total, a.externalURL)
	out := make([]serviceAccountJSON, len(us))
	for i, u := range us {
		out[i] = a.serviceAccount(u)
	}
	writeJSON(w, 200, out)
	return nil
}

// accountFor resolves {user_id} on service-account routes: an instance route takes any
// service account, a group route only one the group provisioned.
func (a *API) accountFor(r *http.Request, c *call) (keygate.User, error) {
	id, err := pathID(r, "user_id")
	if err != nil {
		return keygate.User{}, err
	}
	if gid := a.groupID(c); gid != 0 {
		return a.svc.GroupServiceAccount(r.Context(), gid, id)
	}
	u, err := a.svc.User(r.Context(), id)
	if err != nil {
		return u, message(404, "404 Not found")
	}
	return u, nil
}

func (a *API) updateServiceAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := a.accountFor(r, c)
	if err != nil {
		return serviceAccountError(err)
	}
	in, err := serviceAccountInput(c.p)
	if err != nil {
		return err
	}
	u, err = a.svc.UpdateServiceAccount(r.Context(), u, in)
	if err != nil {
		return serviceAccountError(err)
	}
	writeJSON(w, 200, a.serviceAccount(u))
	return nil
}

func (a *API) deleteServiceAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := a.accountFor(r, c)
	if err != nil {
		return serviceAccountError(err)
	}
	if err := a.svc.DeleteServiceAccount(r.Context(), u); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listServiceAccountTokens(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := a.accountFor(r, c)
	if err != nil {
		return serviceAccountError(err)
	}
	f, err := tokenFilter(c.p)
	if err != nil {
		return err
	}
	f.UserID = u.ID
	ts, total, err := a.svc.Tokens(r.Context(), authz.SystemSubject(), f)
	if err != nil {
		return err
	}
	paginate(w, r, f.Page, total, a.externalURL)
	out := make([]tokenJSON, len(ts))
	for i, t := range ts {
		out[i] = a.token(t)
	}
	writeJSON(w, 200, out)
	return nil
}

func (a *API) createServiceAccountToken(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := a.accountFor(r, c)
	if err != nil {
		return serviceAccountError(err)
	}
	in, err := tokenInput(c.p, func(s keygate.Scope) bool { return !s.Admin() && (!s.GrantedByAdmin() || c.subject.Admin()) })
	if err != nil {
		return err
	}
	in.Bound = &c.subject // a fine-grained requester gets nothing broader than its grant
	iss, err := a.svc.CreatePersonalToken(r.Context(), authz.SystemSubject(), u.ID, in)
	if err != nil {
		return createError(granularErr(err))
	}
	writeJSON(w, 201, a.issued(iss))
	return nil
}

// serviceAccountToken finds a token of the account: GitLab's 404 texts differ per route.
func (a *API) serviceAccountToken(r *http.Request, u keygate.User, missing string) (keygate.Token, error) {
	id, err := pathID(r, "token_id")
	if err != nil {
		return keygate.Token{}, err
	}
	t, err := a.svc.TokenByID(r.Context(), id)
	if err != nil || t.UserID != u.ID {
		return keygate.Token{}, message(404, missing)
	}
	return t, nil
}

func (a *API) revokeServiceAccountToken(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := a.accountFor(r, c)
	if err != nil {
		return serviceAccountError(err)
	}
	t, err := a.serviceAccountToken(r, u, "404 Personal Access Token Not Found")
	if err != nil {
		return err
	}
	if err := a.svc.Revoke(r.Context(), authz.SystemSubject(), t.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) rotateServiceAccountToken(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := a.accountFor(r, c)
	if err != nil {
		return serviceAccountError(err)
	}
	t, err := a.serviceAccountToken(r, u, "404 Not Found")
	if err != nil {
		return err
	}
	exp, err := c.p.date("expires_at")
	if err != nil {
		return err
	}
	if err := a.svc.CheckNotBroader(r.Context(), c.subject, t); err != nil {
		return granularErr(err)
	}
	iss, err := a.svc.Rotate(r.Context(), authz.SystemSubject(), t.ID, exp)
	if err != nil {
		return rotateError(granularErr(err))
	}
	writeJSON(w, 200, a.issued(iss))
	return nil
}

// --- impersonation tokens ---

type impersonationWithSecretJSON struct {
	impersonationJSON
	Token string `json:"token"`
}

func (a *API) impersonation(t keygate.Token) impersonationJSON {
	return impersonationJSON{tokenWithIPsJSON: a.tokenWithIPs(t), Impersonation: t.Impersonation}
}

func (a *API) listImpersonationTokens(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := a.userParam(r)
	if err != nil {
		return err
	}
	pg, err := c.p.page()
	if err != nil {
		return err
	}
	state, err := c.p.oneOf("state", "all", "active", "inactive")
	if err != nil {
		return err
	}
	if state == "all" {
		state = ""
	}
	yes := true
	ts, total, err := a.svc.Tokens(r.Context(), c.subject, store.TokenFilter{UserID: u.ID, Impersonation: &yes, State: state, Page: pg})
	if err != nil {
		return err
	}
	paginate(w, r, pg, total, a.externalURL)
	out := make([]impersonationJSON, len(ts))
	for i, t := range ts {
		out[i] = a.impersonation(t)
	}
	writeJSON(w, 200, out)
	return nil
}

func (a *API) userParam(r *http.Request) (keygate.User, error) {
	id, err := pathID(r, "user_id")
	if err != nil {
		return keygate.User{}, err
	}
	return a.svc.User(r.Context(), id)
}

func (a *API) impersonationToken(r *http.Request) (keygate.User, keygate.Token, error) {
	u, err := a.userParam(r)
	if err != nil {
		return u, keygate.Token{}, err
	}
	id, err := pathID(r, "impersonation_token_id")
	if err != nil {
		return u, keygate.Token{}, err
	}
	t, err := a.svc.TokenByID(r.Context(), id)
	if err != nil || t.UserID != u.ID || !t.Impersonation {
		return u, t, notFound("Impersonation Token")
	}
	return u, t, nil
}

func (a *API) getImpersonationToken(w http.ResponseWriter, r *http.Request, c *call) error {
	_, t, err := a.impersonationToken(r)
	if err != nil {
		return err
	}
	writeJSON(w, 200, a.impersonation(t))
	return nil
}

func (a *API) createImpersonationToken(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := a.userParam(r)
	if err != nil {
		return err
	}
	if _, err := c.p.requiredStr("name"); err != nil {
		return err
	}
	if !c.p.has("scopes") && !c.p.has("granular_scopes") {
		return validationError("scopes", "can't be blank")
	}
	in, err := tokenInput(c.p, nil)
	if err != nil {
		return err
	}
	in.Impersonation = true
	iss, err := a.svc.CreatePersonalToken(r.Context(), c.subject, u.ID, in)
	if err != nil {
		return modelErr(granularErr(err))
	}
	writeJSON(w, 201, impersonationWithSecretJSON{impersonationJSON: a.impersonation(iss.Token), Token: iss.Secret.Reveal()})
	return nil
}

func (a *API) revokeImpersonationToken(w http.ResponseWriter, r *http.Request, c *call) error {
	_, t, err := a.impersonationToken(r)
	if err != nil {
		return err
	}
	if err := a.svc.Revoke(r.Context(), c.subject, t.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

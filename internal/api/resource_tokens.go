package api

import (
	"net/http"
	"strconv"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/service"
)

func (a *API) resourceToken(src service.Source, rt service.ResourceToken) resourceTokenJSON {
	out := resourceTokenJSON{
		tokenWithIPsJSON: a.tokenWithIPs(rt.Token), AccessLevel: int(rt.AccessLevel),
		ResourceType: "project", ResourceID: src.ID,
	}
	if src.Type == keygate.SourceNamespace {
		out.ResourceType = "group"
	}
	return out
}

func (a *API) resourceTokenWithSecret(src service.Source, rt service.ResourceToken) resourceTokenWithSecretJSON {
	return resourceTokenWithSecretJSON{resourceTokenJSON: a.resourceToken(src, rt), Token: rt.Secret.Reveal()}
}

// resourceTokenError renders service refusals as lib/api/resource_access_tokens.rb does:
// service messages are 400 "400 Bad request - …".
func resourceTokenError(err error) error {
	if ke, ok := err.(*keygate.Error); ok && ke.Code == keygate.CodeInvalid {
		return badRequest(ke.Message)
	}
	return err
}

func (a *API) listResourceTokens(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := tokenFilter(c.p)
	if err != nil {
		return err
	}
	src, err := a.source(r, c)
	if err != nil {
		return err
	}
	ts, total, err := a.svc.ResourceTokens(r.Context(), c.subject, src, f)
	if err != nil {
		return err
	}
	paginate(w, r, f.Page, total, a.externalURL)
	out := make([]resourceTokenJSON, len(ts))
	for i, t := range ts {
		out[i] = a.resourceToken(src, t)
	}
	writeJSON(w, 200, out)
	return nil
}

// tokenID reads {token_id}: GitLab declares it a String and looks it up among the
// source's tokens, so anything that is not one of their ids is the source's 404.
func tokenID(r *http.Request, src service.Source) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("token_id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound(kindLabel(src) + " Access Token")
	}
	return id, nil
}

func kindLabel(src service.Source) string {
	if src.Type == keygate.SourceNamespace {
		return "group"
	}
	return "project"
}

func (a *API) getResourceToken(w http.ResponseWriter, r *http.Request, c *call) error {
	src, err := a.source(r, c)
	if err != nil {
		return err
	}
	id, err := tokenID(r, src)
	if err != nil {
		return err
	}
	t, err := a.svc.ResourceTokenByID(r.Context(), c.subject, src, id)
	if err != nil {
		return err
	}
	writeJSON(w, 200, a.resourceToken(src, t))
	return nil
}

func (a *API) createResourceToken(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := tokenInput(c.p, service.ResourceBotScope)
	if err != nil {
		return err
	}
	rin := service.ResourceTokenInput{TokenInput: in}
	if n, err := c.p.integer("access_level"); err != nil {
		return err
	} else if n != nil {
		l := keygate.AccessLevel(*n)
		switch l {
		case keygate.Guest, keygate.Planner, keygate.Reporter, keygate.Developer, keygate.Maintainer, keygate.Owner:
		default:
			return paramError("access_level does not have a valid value")
		}
		rin.AccessLevel = l
	}
	src, err := a.source(r, c)
	if err != nil {
		return err
	}
	t, err := a.svc.CreateResourceToken(r.Context(), c.subject, src, rin)
	if err != nil {
		return resourceTokenError(granularErr(err))
	}
	writeJSON(w, 201, a.resourceTokenWithSecret(src, t))
	return nil
}

func (a *API) rotateResourceToken(w http.ResponseWriter, r *http.Request, c *call) error {
	exp, err := c.p.date("expires_at")
	if err != nil {
		return err
	}
	src, err := a.source(r, c)
	if err != nil {
		return err
	}
	id, err := tokenID(r, src)
	if err != nil {
		return err
	}
	t, err := a.svc.RotateResourceToken(r.Context(), c.subject, src, id, exp)
	if err != nil {
		return resourceTokenError(granularErr(err))
	}
	writeJSON(w, 200, a.resourceTokenWithSecret(src, t))
	return nil
}

func (a *API) rotateResourceTokenSelf(w http.ResponseWriter, r *http.Request, c *call) error {
	exp, err := c.p.date("expires_at")
	if err != nil {
		return err
	}
	src, err := a.source(r, c)
	if err != nil {
		return err
	}
	t, err := a.svc.RotateResourceTokenSelf(r.Context(), *c.principal, src, exp)
	if err != nil {
		return resourceTokenError(err)
	}
	writeJSON(w, 200, a.resourceTokenWithSecret(src, t))
	return nil
}

func (a *API) revokeResourceToken(w http.ResponseWriter, r *http.Request, c *call) error {
	src, err := a.source(r, c)
	if err != nil {
		return err
	}
	id, err := tokenID(r, src)
	if err != nil {
		return err
	}
	if err := a.svc.RevokeResourceToken(r.Context(), c.subject, src, id); err != nil {
		return resourceTokenError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) revokeResourceTokenSelf(w http.ResponseWriter, r *http.Request, c *call) error {
	src, err := a.source(r, c)
	if err != nil {
		return err
	}
	if err := a.svc.RevokeResourceTokenSelf(r.Context(), *c.principal, src); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

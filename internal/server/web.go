package server

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/api"
	"github.com/keygate/keygate/internal/service"
	"github.com/keygate/keygate/internal/web"
)

// newWeb builds the UI with the API's can_i judgement, so the "can this token do X?"
// form and GET /api/v4/keygate/can_i answer alike. The templates are embedded and
// parsed at build time's content, so a failure here is a programming error.
func newWeb(cfg Config, a *api.API, notFound http.Handler) http.Handler {
	ui, err := web.New(web.Config{
		Service: cfg.Service, Logger: cfg.Logger, ExternalURL: cfg.ExternalURL, NotFound: notFound,
		CanI: func(ctx context.Context, p service.Principal, method, path string) (web.CanIAnswer, error) {
			ans, err := a.CanI(ctx, p, method, path)
			if err != nil {
				return web.CanIAnswer{}, err
			}
			out := web.CanIAnswer{Allowed: ans.Allowed, Status: ans.Status, Route: ans.Route, Reasons: ans.Reasons, RequiredScopes: ans.RequiredScopes}
			if ans.RequiredRole != nil {
				out.RequiredRole = ans.RequiredRole.Name
			}
			return out, nil
		},
		Usage: func(ctx context.Context, t keygate.Token, days int) ([]byte, error) {
			rep, err := a.UsageReport(ctx, t, days)
			if err != nil {
				return nil, err
			}
			return json.Marshal(rep)
		},
	})
	if err != nil {
		panic(err) // embedded templates that do not parse: caught by every test
	}
	return ui.Handler()
}

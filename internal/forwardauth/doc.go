// Package forwardauth answers reverse proxies at /-/gate (nginx auth_request, Caddy
// forward_auth, Traefik ForwardAuth): may this request, with this token, reach this
// service? The services and their requirements come from the gate file (Parse); tokens
// are verified and memberships judged by the same service layer and decision engine as
// the REST API, so a revocation or a removed membership is refused on the next request.
//
// The answers are shaped for proxies: 200 with identity headers, 401 carrying both a
// Bearer and a Basic challenge, 403 for everything else a proxy must refuse. /-/gate
// never answers 404, 429 or 503, which nginx turns into a 500 for the client.
package forwardauth

// Package registryauth is the container registry's token service: GET /jwt/auth as
// GitLab serves it to a Docker Registry v2 (the CNCF distribution registry) running with
// `auth: token`. It parses the requested scopes, authenticates the Basic credentials
// through the service (tokens, job tokens, anonymous), grants each scope the actions
// authz.DecideRegistry allows, and signs the answer as an RS256 JWT whose kid is the
// libtrust key ID the registry derives from Keygate's certificate.
//
// Scope strings, repository names, the JWT and the key ID are pure functions here; the
// handler and the Authorizer are the only parts that do I/O (through the service).
package registryauth

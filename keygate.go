// Package keygate holds Keygate's domain: users, access tokens, scopes, access levels,
// instance settings and the one error vocabulary. It does no I/O; stores, services and
// transports are built around it.
package keygate

// APIVersion is the GitLab API level Keygate matches; /api/v4/version reports it.
const APIVersion = "19.6.0-keygate"

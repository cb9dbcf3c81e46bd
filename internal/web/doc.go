// Package web is Keygate's server-rendered UI for people managing tokens: sign in and
// out, password change, personal access tokens, project and group access tokens, service
// accounts, members, the admin area (users, impersonation tokens, the credentials
// inventory, instance token settings) and a "can this token do X?" form.
//
// Pages are html/template with embedded CSS and no build step; nothing needs JavaScript
// except the copy button. Every page sends a strict Content-Security-Policy with
// frame-ancestors 'none' and X-Content-Type-Options: nosniff; unsafe requests pass
// http.CrossOriginProtection and carry a CSRF token. Sessions live in the store (only
// digests of their IDs), so sign-out and blocking end them on every node. Handlers parse
// forms and render; every decision is the service layer's, the same the API calls.
package web

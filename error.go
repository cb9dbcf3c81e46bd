package keygate

import (
	"errors"
	"fmt"
)

// Code classifies an error for the transports, which map it to a status and a body.
type Code string

// The error codes. Each transport maps them in one function.
const (
	CodeInvalid           Code = "invalid"            // 400: bad input
	CodeUnprocessable     Code = "unprocessable"      // 422: well-formed but refused by a rule
	CodeUnauthenticated   Code = "unauthenticated"    // 401
	CodeForbidden         Code = "forbidden"          // 403
	CodeNotFound          Code = "not_found"          // 404
	CodeConflict          Code = "conflict"           // 409
	CodeInsufficientScope Code = "insufficient_scope" // 403 with the OAuth body
	CodeNotAllowed        Code = "not_allowed"        // 405
	// CodeInsufficientGranularScope: a fine-grained token lacks the route's permission
	// (403 with error insufficient_granular_scope).
	CodeInsufficientGranularScope Code = "insufficient_granular_scope"
	CodeInternal                  Code = "internal" // 500
)

// Error is Keygate's one error type. Message is safe to show to the caller; Err is the
// internal cause and is only logged.
type Error struct {
	Code    Code
	Op      string
	Message string
	// Field, when set, names the input that was wrong; transports that answer with a
	// per-field body (GitLab's model validation) use it.
	Field string
	// Reasons explain a denial to the caller who asks (authz.Decision.Reasons).
	Reasons []string
	Err     error
}

// Error renders the operation, the public message and the cause.
func (e *Error) Error() string {
	msg := string(e.Code)
	if e.Message != "" {
		msg = e.Message
	}
	if e.Op != "" {
		msg = e.Op + ": " + msg
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error with a formatted public message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or CodeInternal.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the public message of the first *Error in err's chain.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return ""
}

// Authentication outcomes, checked in this order (spec §5.3): a token that is both
// expired and revoked reports expired.
var (
	// ErrTokenInvalid: no credential, a malformed one, or one no store knows.
	ErrTokenInvalid = &Error{Code: CodeUnauthenticated, Message: "401 Unauthorized"}
	// ErrTokenExpired: the token's expiry date has begun.
	ErrTokenExpired = &Error{Code: CodeUnauthenticated, Message: "Token is expired. You can either do re-authorization or token refresh."}
	// ErrTokenRevoked: the token was revoked or rotated away.
	ErrTokenRevoked = &Error{Code: CodeUnauthenticated, Message: "Token was revoked. You have to re-authorize from the user."}
	// ErrImpersonationDisabled: an impersonation token while impersonation is off.
	ErrImpersonationDisabled = &Error{Code: CodeUnauthenticated, Message: "Token is an impersonation token but impersonation was disabled."}
)

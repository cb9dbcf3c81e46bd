package githttp

import (
	"encoding/base64"
	"strings"
)

// ParseBasic reads an Authorization header value. basic reports whether it uses the
// Basic scheme at all (another scheme, or none, is not a Git credential: the request is
// anonymous); ok whether it decoded to user:password. A Basic value that does not decode
// is a failed authentication, not an anonymous request. The password may contain ':'.
func ParseBasic(h string) (user, password string, basic, ok bool) {
	scheme, rest, found := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, false
	}
	if !found {
		return "", "", true, false
	}
	enc := strings.TrimSpace(rest)
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		// Some clients drop the padding; nothing else is tolerated.
		if raw, err = base64.RawStdEncoding.DecodeString(enc); err != nil {
			return "", "", true, false
		}
	}
	user, password, found = strings.Cut(string(raw), ":")
	if !found {
		return "", "", true, false
	}
	return user, password, true, true
}

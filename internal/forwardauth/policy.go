package forwardauth

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
)

// Policy is a parsed gate file: the services, tried in file order, and what happens to a
// request no service matches. A Policy is immutable once parsed; a reload swaps it whole.
type Policy struct {
	Services []Service
	// DefaultAllow lets requests no service matches through (default: deny).
	DefaultAllow bool
}

// Service is one protected service of the gate file.
type Service struct {
	Name string
	// Line is where the service starts in the gate file (for logs).
	Line int
	// Hosts are exact host names or "*.suffix" wildcards, lower case; empty matches any.
	Hosts []string
	// Paths are path prefixes; "/" when absent.
	Paths []string
	// Methods are upper-case HTTP methods; empty matches any.
	Methods   []string
	Anonymous bool
	Require   Require
	// Headers are the identity headers an allowed answer carries.
	Headers []Header
}

// Require is what a token must satisfy to pass a service.
type Require struct {
	// TokenTypes are the accepted token types; empty accepts any.
	TokenTypes []keygate.TokenType
	// ScopesAny: the token needs one of these; empty needs none.
	ScopesAny keygate.Scopes
	// MemberOf is a group or project full path; empty requires no membership.
	MemberOf string
	// MinAccessLevel is the least effective role on MemberOf (Guest when absent).
	MinAccessLevel keygate.AccessLevel
	// Permissions are what a fine-grained token needs instead of ScopesAny: every one,
	// granted on the MemberOf project or group (or, without MemberOf, on the user
	// boundary). Each names a catalogue permission that applies to that boundary kind.
	// Legacy tokens are judged by ScopesAny alone (docs/gate.md).
	Permissions []string
}

// Header is one identity header an allowed answer can carry.
type Header string

// The identity headers, named in the gate file by their key.
const (
	HeaderUser        Header = "user"
	HeaderUserID      Header = "user_id"
	HeaderTokenID     Header = "token_id"
	HeaderTokenType   Header = "token_type"
	HeaderScopes      Header = "scopes"
	HeaderAccessLevel Header = "access_level"
)

// allHeaders lists the identity headers in the order they are documented.
var allHeaders = []Header{HeaderUser, HeaderUserID, HeaderTokenID, HeaderTokenType, HeaderScopes, HeaderAccessLevel}

// headerNames maps gate-file keys to the HTTP headers proxies copy upstream.
var headerNames = map[Header]string{
	HeaderUser:        "X-Keygate-User",
	HeaderUserID:      "X-Keygate-User-Id",
	HeaderTokenID:     "X-Keygate-Token-Id",
	HeaderTokenType:   "X-Keygate-Token-Type",
	HeaderScopes:      "X-Keygate-Scopes",
	HeaderAccessLevel: "X-Keygate-Access-Level",
}

// HTTPName is the header's name on the wire.
func (h Header) HTTPName() string { return headerNames[h] }

// tokenTypes are the gate file's token-type names (DESIGN §1.1).
var tokenTypes = []keygate.TokenType{
	keygate.TokenPersonal, keygate.TokenImpersonation, keygate.TokenProject,
	keygate.TokenGroup, keygate.TokenServiceAccount, keygate.TokenJob,
}

var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

var (
	nameRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	hostRE       = regexp.MustCompile(`^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$`)
	permissionRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,99}$`)
	memberPathRE = regexp.MustCompile(`^[A-Za-z0-9_.][A-Za-z0-9_.-]*(/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*$`)
	yamlLineRE   = regexp.MustCompile(`line (\d+)`)
)

// LineError is one problem in a gate file, at a line (0 when the file has no lines).
type LineError struct {
	Line int
	Msg  string
}

// Error renders "line N: message".
func (e LineError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return "line " + strconv.Itoa(e.Line) + ": " + e.Msg
}

// Errors is every problem found in a gate file, in file order.
type Errors []LineError

// Error joins every problem with "; ".
func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// MaxFileBytes bounds a gate file: it is configuration, not data.
const MaxFileBytes = 1 << 20

// Parse reads a gate file. Its error, when not nil, is an Errors listing every problem
// with its line, so `keygate gate check` can report them all at once.
func Parse(data []byte) (*Policy, error) {
	if len(data) > MaxFileBytes {
		return nil, Errors{{Msg: fmt.Sprintf("the gate file is larger than %d bytes", MaxFileBytes)}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{yamlError(err)}
	}
	p := &parser{}
	pol := p.document(&doc)
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b LineError) int { return a.Line - b.Line })
		return nil, p.errs
	}
	return pol, nil
}

// yamlError turns a YAML syntax error into a LineError, taking the line from its message
// (yaml.v3 reports "yaml: line N: …").
func yamlError(err error) LineError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = strings.TrimPrefix(te.Errors[0], "yaml: ")
	}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		rest := strings.TrimPrefix(msg, m[0])
		return LineError{Line: n, Msg: "invalid YAML" + rest}
	}
	return LineError{Line: 1, Msg: "invalid YAML: " + msg}
}

type parser struct{ errs Errors }

func (p *parser) fail(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, LineError{Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

// fields walks a mapping node, calling f for each key it knows and reporting every other
// key (and duplicates) with its line.
func (p *parser) fields(n *yaml.Node, where string, known []string, f func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, "%s must be a mapping", where)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.fail(k, "%s: keys must be plain names", where)
			continue
		}
		if !slices.Contains(known, k.Value) {
			p.fail(k, "unknown key %q in %s (known: %s)", k.Value, where, strings.Join(known, ", "))
			continue
		}
		if seen[k.Value] {
			p.fail(k, "duplicate key %q in %s", k.Value, where)
			continue
		}
		seen[k.Value] = true
		f(k.Value, k, v)
	}
}

func (p *parser) document(doc *yaml.Node) *Policy {
	pol := &Policy{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		p.errs = append(p.errs, LineError{Line: 1, Msg: "the gate file is empty: it needs a services list"})
		return pol
	}
	root := doc.Content[0]
	var hasServices bool
	p.fields(root, "the gate file", []string{"services", "default"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "services":
			hasServices = true
			pol.Services = p.services(v)
		case "default":
			s, ok := p.scalar(v, "default")
			switch {
			case !ok:
			case s == "deny":
			case s == "allow":
				pol.DefaultAllow = true
			default:
				p.fail(v, "default must be deny or allow, not %q", s)
			}
		}
	})
	if root.Kind == yaml.MappingNode && !hasServices {
		p.fail(root, "the gate file needs a services list")
	}
	return pol
}

func (p *parser) services(n *yaml.Node) []Service {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, "services must be a list")
		return nil
	}
	names := map[string]int{}
	out := make([]Service, 0, len(n.Content))
	for _, item := range n.Content {
		s := p.service(item)
		if s.Name != "" {
			if line, dup := names[s.Name]; dup {
				p.fail(item, "service %q is already declared on line %d", s.Name, line)
			}
			names[s.Name] = item.Line
		}
		out = append(out, s)
	}
	return out
}

var serviceKeys = []string{"name", "hosts", "paths", "methods", "anonymous", "require", "headers"}

func (p *parser) service(n *yaml.Node) Service {
	s := Service{Line: n.Line}
	var named bool
	p.fields(n, "a service", serviceKeys, func(key string, _, v *yaml.Node) {
		switch key {
		case "name":
			named = true
			if name, ok := p.scalar(v, "name"); ok {
				if !nameRE.MatchString(name) {
					p.fail(v, "service name %q must be 1 to 63 letters, digits, '.', '_' or '-'", name)
				}
				s.Name = name
			}
		case "hosts":
			for _, h := range p.strings(v, "hosts") {
				host := strings.ToLower(h.Value)
				if !hostRE.MatchString(host) {
					p.fail(h, "host %q is not a host name (a leading \"*.\" matches subdomains)", h.Value)
					continue
				}
				s.Hosts = append(s.Hosts, host)
			}
		case "paths":
			for _, pn := range p.strings(v, "paths") {
				if !strings.HasPrefix(pn.Value, "/") || strings.ContainsAny(pn.Value, "?# \t") {
					p.fail(pn, "path %q must start with / and hold no query, fragment or space", pn.Value)
					continue
				}
				if strings.Contains(pn.Value, "*") {
					p.fail(pn, "path %q: paths are prefixes, not patterns (write /api/ for everything below /api)", pn.Value)
					continue
				}
				s.Paths = append(s.Paths, pn.Value)
			}
		case "methods":
			for _, m := range p.strings(v, "methods") {
				up := strings.ToUpper(m.Value)
				if !slices.Contains(methods, up) {
					p.fail(m, "unknown method %q (known: %s)", m.Value, strings.Join(methods, ", "))
					continue
				}
				s.Methods = append(s.Methods, up)
			}
		case "anonymous":
			s.Anonymous = p.bool(v, "anonymous")
		case "require":
			s.Require = p.require(v)
		case "headers":
			for _, h := range p.strings(v, "headers") {
				hd := Header(h.Value)
				if hd.HTTPName() == "" {
					p.fail(h, "unknown header %q (known: user, user_id, token_id, token_type, scopes, access_level)", h.Value)
					continue
				}
				if !slices.Contains(s.Headers, hd) {
					s.Headers = append(s.Headers, hd)
				}
			}
		}
	})
	if n.Kind == yaml.MappingNode && !named {
		p.fail(n, "a service needs a name")
	}
	if len(s.Paths) == 0 {
		s.Paths = []string{"/"}
	}
	if slices.Contains(s.Headers, HeaderAccessLevel) && s.Require.MemberOf == "" && n.Kind == yaml.MappingNode {
		p.fail(n, "service %q: the access_level header needs require.member_of", s.Name)
	}
	return s
}

var requireKeys = []string{"token_types", "scopes_any", "member_of", "min_access_level", "permissions"}

func (p *parser) require(n *yaml.Node) Require {
	var r Require
	var levelNode *yaml.Node
	var permNodes []*yaml.Node
	p.fields(n, "require", requireKeys, func(key string, _, v *yaml.Node) {
		switch key {
		case "token_types":
			for _, t := range p.strings(v, "token_types") {
				tt := keygate.TokenType(t.Value)
				if !slices.Contains(tokenTypes, tt) {
					p.fail(t, "unknown token type %q (known: personal, impersonation, project, group, service_account, job)", t.Value)
					continue
				}
				if !slices.Contains(r.TokenTypes, tt) {
					r.TokenTypes = append(r.TokenTypes, tt)
				}
			}
		case "scopes_any":
			for _, sn := range p.strings(v, "scopes_any") {
				sc := keygate.Scope(sn.Value)
				if !sc.Valid() {
					p.fail(sn, "unknown scope %q", sn.Value)
					continue
				}
				if !r.ScopesAny.Has(sc) {
					r.ScopesAny = append(r.ScopesAny, sc)
				}
			}
		case "member_of":
			if s, ok := p.scalar(v, "member_of"); ok {
				path := strings.Trim(s, "/")
				if !memberPathRE.MatchString(path) {
					p.fail(v, "member_of %q is not a group or project full path", s)
				}
				r.MemberOf = path
			}
		case "min_access_level":
			levelNode = v
			s, ok := p.scalar(v, "min_access_level")
			if !ok {
				return
			}
			n, err := strconv.Atoi(s)
			if err != nil || !keygate.AccessLevel(n).Valid() || n == 0 {
				p.fail(v, "min_access_level %q is not an access level (5, 10, 15, 20, 30, 40 or 50)", s)
				return
			}
			r.MinAccessLevel = keygate.AccessLevel(n)
		case "permissions":
			for _, pn := range p.strings(v, "permissions") {
				if !permissionRE.MatchString(pn.Value) {
					p.fail(pn, "permission %q must be a lower-case name such as read_project", pn.Value)
					continue
				}
				if _, ok := authz.LookupPermission(pn.Value); !ok {
					p.fail(pn, "unknown permission %q (the catalogue: docs/permissions.md or GET /api/v4/keygate/permissions)", pn.Value)
					continue
				}
				if !slices.Contains(r.Permissions, pn.Value) {
					r.Permissions = append(r.Permissions, pn.Value)
					permNodes = append(permNodes, pn)
				}
			}
		}
	})
	// Applicability needs member_of, which may come after permissions in the mapping.
	for i, name := range r.Permissions {
		p.permissionApplies(permNodes[i], name, r.MemberOf != "")
	}
	if levelNode != nil && r.MemberOf == "" {
		p.fail(levelNode, "min_access_level needs member_of: the level is judged on that group or project")
	}
	if r.MemberOf != "" && r.MinAccessLevel == 0 {
		r.MinAccessLevel = keygate.Guest
	}
	return r
}

// permissionApplies reports a permission that no fine-grained token could hold on the
// boundary the gate checks it on: the member_of group or project, or without member_of
// the user boundary. Whether member_of is a group or a project is known only at request
// time, so either kind will do here.
func (p *parser) permissionApplies(n *yaml.Node, name string, memberOf bool) {
	perm, _ := authz.LookupPermission(name)
	if memberOf {
		if !slices.Contains(perm.Boundaries, authz.BoundaryProject) && !slices.Contains(perm.Boundaries, authz.BoundaryGroup) {
			p.fail(n, "permission %q applies to %s, not to the member_of group or project", name, boundaryList(perm.Boundaries))
		}
		return
	}
	if !slices.Contains(perm.Boundaries, authz.BoundaryUser) {
		p.fail(n, "permission %q does not apply at the user level, where a service without member_of checks it (it applies to %s): add member_of", name, boundaryList(perm.Boundaries))
	}
}

func boundaryList(ks []authz.BoundaryKind) string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return strings.Join(out, ", ")
}

func (p *parser) scalar(n *yaml.Node, key string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.fail(n, "%s must be a single value", key)
		return "", false
	}
	if strings.TrimSpace(n.Value) == "" {
		p.fail(n, "%s must not be empty", key)
		return "", false
	}
	return n.Value, true
}

func (p *parser) bool(n *yaml.Node, key string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		p.fail(n, "%s must be true or false", key)
		return false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		p.fail(n, "%s must be true or false", key)
	}
	return b
}

// strings reads a list of scalars; a single scalar is accepted as a list of one.
func (p *parser) strings(n *yaml.Node, key string) []*yaml.Node {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			p.fail(n, "%s must be a list", key)
			return nil
		}
		return []*yaml.Node{n}
	case yaml.SequenceNode:
		out := make([]*yaml.Node, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode || item.Tag == "!!null" || strings.TrimSpace(item.Value) == "" {
				p.fail(item, "%s: each item must be a single value", key)
				continue
			}
			out = append(out, item)
		}
		if len(n.Content) == 0 {
			p.fail(n, "%s must not be an empty list (leave it out to match anything)", key)
		}
		return out
	}
	p.fail(n, "%s must be a list", key)
	return nil
}

package forwardauth

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

// issueExample is the gate file of the issue, verbatim.
const issueExample = `services:
  - name: billing
    hosts: [billing.internal]        # optional; any host when absent
    paths: [/api/]                   # path prefixes; "/" when absent
    methods: [GET, HEAD]             # any method when absent
    anonymous: false                 # true lets requests without a token through
    require:
      token_types: [personal, project, group, service_account]  # any type when absent
      scopes_any: [api, read_api]    # the token needs one of these
      member_of: acme/billing        # a group or project full path …
      min_access_level: 30           # … where the token's user or bot has at least this level
      permissions: [read_project]    # fine-grained tokens: also need these (when that issue lands)
    headers: [user, user_id, token_id, token_type, scopes, access_level]
default: deny                        # deny | allow, for requests no service matches
`

func TestParseIssueExample(t *testing.T) {
	t.Parallel()
	p, err := Parse([]byte(issueExample))
	if err != nil {
		t.Fatalf("Parse(issue example) = %v", err)
	}
	if len(p.Services) != 1 || p.DefaultAllow {
		t.Fatalf("Parse = %+v, want one service, default deny", p)
	}
	s := p.Services[0]
	want := Service{
		Name: "billing", Line: 2, Hosts: []string{"billing.internal"}, Paths: []string{"/api/"}, Methods: []string{"GET", "HEAD"},
		Require: Require{
			TokenTypes: []keygate.TokenType{"personal", "project", "group", "service_account"},
			ScopesAny:  keygate.Scopes{"api", "read_api"}, MemberOf: "acme/billing", MinAccessLevel: 30,
			Permissions: []string{"read_project"},
		},
		Headers: []Header{"user", "user_id", "token_id", "token_type", "scopes", "access_level"},
	}
	if !equalService(s, want) {
		t.Errorf("Parse service = %+v, want %+v", s, want)
	}
}

func equalService(a, b Service) bool {
	return a.Name == b.Name && a.Line == b.Line && slices.Equal(a.Hosts, b.Hosts) && slices.Equal(a.Paths, b.Paths) &&
		slices.Equal(a.Methods, b.Methods) && a.Anonymous == b.Anonymous && slices.Equal(a.Headers, b.Headers) &&
		slices.Equal(a.Require.TokenTypes, b.Require.TokenTypes) && slices.Equal(a.Require.ScopesAny, b.Require.ScopesAny) &&
		a.Require.MemberOf == b.Require.MemberOf && a.Require.MinAccessLevel == b.Require.MinAccessLevel &&
		slices.Equal(a.Require.Permissions, b.Require.Permissions)
}

var parseErrorCases = []struct {
	name string
	file string
	line int
	msg  string // a substring of the error on that line
}{
	{"bad YAML", "services:\n  - name: a\n    paths: a: b\n", 3, "invalid YAML"},
	{"unclosed list", "services:\n  - name: a\n    paths: [/x\n", 2, "invalid YAML"},
	{"tab indentation", "services:\n\t- name: a\n", 2, "invalid YAML"},
	{"empty file", "", 1, "empty"},
	{"no services", "default: deny\n", 1, "needs a services list"},
	{"services not a list", "services: billing\n", 1, "services must be a list"},
	{"unknown top-level key", "services: []\nbackends: []\n", 2, `unknown key "backends"`},
	{"unknown service key", "services:\n  - name: a\n    upstream: x\n", 3, `unknown key "upstream" in a service`},
	{"unknown require key", "services:\n  - name: a\n    require:\n      roles: [dev]\n", 4, `unknown key "roles" in require`},
	{"duplicate key", "services:\n  - name: a\n    name: b\n", 3, `duplicate key "name"`},
	{"missing name", "services:\n  - paths: [/]\n", 2, "needs a name"},
	{"bad name", "services:\n  - name: 'a b'\n", 2, "service name"},
	{"duplicate service", "services:\n  - name: a\n  - name: a\n", 3, `service "a" is already declared on line 2`},
	{"bad default", "services: []\ndefault: maybe\n", 2, "default must be deny or allow"},
	{"bad level", "services:\n  - name: a\n    require:\n      member_of: acme\n      min_access_level: 35\n", 5, "not an access level"},
	{"level not a number", "services:\n  - name: a\n    require:\n      member_of: acme\n      min_access_level: developer\n", 5, "not an access level"},
	{"level without member_of", "services:\n  - name: a\n    require:\n      min_access_level: 30\n", 4, "needs member_of"},
	{"unknown token type", "services:\n  - name: a\n    require:\n      token_types: [personal, oauth]\n", 4, `unknown token type "oauth"`},
	{"unknown scope", "services:\n  - name: a\n    require:\n      scopes_any:\n        - api\n        - write_everything\n", 6, `unknown scope "write_everything"`},
	{"bad member path", "services:\n  - name: a\n    require:\n      member_of: 'acme//x'\n", 4, "not a group or project full path"},
	{"bad permission", "services:\n  - name: a\n    require:\n      permissions: [Read-Project]\n", 4, "permission"},
	{"unknown permission", "services:\n  - name: a\n    require:\n      member_of: acme\n      permissions:\n        - read_project\n        - read_everything\n", 7, `unknown permission "read_everything"`},
	{"permission not on a group or project", "services:\n  - name: a\n    require:\n      permissions: [read_project, read_user]\n      member_of: acme\n", 4, `permission "read_user" applies to user, instance, not to the member_of group or project`},
	{"permission without member_of not at user level", "services:\n  - name: a\n    require:\n      permissions:\n        - read_member\n", 5, `permission "read_member" does not apply at the user level`},
	{"path without slash", "services:\n  - name: a\n    paths: [api]\n", 3, "must start with /"},
	{"glob in a path", "services:\n  - name: a\n    paths: ['/api/*']\n", 3, "prefixes, not patterns"},
	{"unknown method", "services:\n  - name: a\n    methods: [GET, FETCH]\n", 3, `unknown method "FETCH"`},
	{"bad host", "services:\n  - name: a\n    hosts: ['billing internal']\n", 3, "not a host name"},
	{"anonymous not a bool", "services:\n  - name: a\n    anonymous: yes please\n", 3, "true or false"},
	{"unknown header", "services:\n  - name: a\n    headers: [user, email]\n", 3, `unknown header "email"`},
	{"access_level header without member_of", "services:\n  - name: a\n    headers: [access_level]\n", 2, "needs require.member_of"},
	{"empty list", "services:\n  - name: a\n    methods: []\n", 3, "must not be an empty list"},
	{"service not a mapping", "services:\n  - billing\n", 2, "must be a mapping"},
	{"require not a mapping", "services:\n  - name: a\n    require: [api]\n", 3, "require must be a mapping"},
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range parseErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.file))
			var es Errors
			if !errors.As(err, &es) || p != nil {
				t.Fatalf("Parse(%q) = %v, %v, want Errors", tc.file, p, err)
			}
			for _, e := range es {
				if e.Line == tc.line && strings.Contains(e.Msg, tc.msg) {
					return
				}
			}
			t.Errorf("Parse(%q) = %v, want an error on line %d containing %q", tc.file, err, tc.line, tc.msg)
		})
	}
}

func TestParseReportsEveryError(t *testing.T) {
	t.Parallel()
	file := "services:\n  - name: a\n    colour: red\n    require:\n      token_types: [robot]\n  - name: b\n    methods: [FETCH]\n"
	_, err := Parse([]byte(file))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Parse = %v, want Errors", err)
	}
	var lines []int
	for _, e := range es {
		lines = append(lines, e.Line)
	}
	if !slices.Equal(lines, []int{3, 5, 7}) {
		t.Errorf("error lines = %v (%v), want [3 5 7]", lines, err)
	}
}

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	p, err := Parse([]byte("services:\n  - name: open\n    anonymous: true\n  - name: team\n    require:\n      member_of: /acme/\n    hosts: [Team.Example.COM]\n    methods: [get]\ndefault: allow\n"))
	if err != nil {
		t.Fatal(err)
	}
	open, team := p.Services[0], p.Services[1]
	if !p.DefaultAllow || !open.Anonymous || !slices.Equal(open.Paths, []string{"/"}) || open.Methods != nil || open.Hosts != nil {
		t.Errorf("defaults = %+v / %+v", p, open)
	}
	if team.Require.MemberOf != "acme" || team.Require.MinAccessLevel != keygate.Guest {
		t.Errorf("member_of defaults = %+v, want acme at Guest", team.Require)
	}
	if !slices.Equal(team.Hosts, []string{"team.example.com"}) || !slices.Equal(team.Methods, []string{"GET"}) {
		t.Errorf("normalised = %v %v", team.Hosts, team.Methods)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(issueExample)
	for _, tc := range parseErrorCases {
		f.Add(tc.file)
	}
	f.Fuzz(func(t *testing.T, file string) {
		p, err := Parse([]byte(file))
		if (p == nil) == (err == nil) {
			t.Fatalf("Parse(%q) = %v, %v: exactly one must be set", file, p, err)
		}
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("Parse(%q) error %v is not a non-empty Errors", file, err)
			}
			return
		}
		for _, s := range p.Services {
			if s.Name == "" || len(s.Paths) == 0 {
				t.Fatalf("Parse(%q) accepted service %+v", file, s)
			}
		}
	})
}

package registryauth

import (
	"reflect"
	"strings"
	"testing"
)

var scopeCases = []struct {
	in   string
	want Scope
	ok   bool
}{
	{"repository:group/project:pull", Scope{"repository", "group/project", []string{"pull"}}, true},
	{"repository:group/project/image:pull,push", Scope{"repository", "group/project/image", []string{"pull", "push"}}, true},
	{"repository:a/b:*", Scope{"repository", "a/b", []string{"*"}}, true},
	{"registry:catalog:*", Scope{"registry", "catalog", []string{"*"}}, true},
	// Everything after the second colon is the action list (GitLab's split(':', 3)).
	{"repository:a/b:c:pull", Scope{"repository", "a/b", []string{"c:pull"}}, true},
	{"repository:a/b:", Scope{"repository", "a/b", []string{""}}, true},
	{"repository(plugin):a/b:pull", Scope{"repository(plugin)", "a/b", []string{"pull"}}, true},
	// No actions part, no name, no type: ignored.
	{"repository:a/b", Scope{}, false},
	{"repository", Scope{}, false},
	{"", Scope{}, false},
	{":a/b:pull", Scope{}, false},
	{"repository::pull", Scope{}, false},
	{"repository:a/b:" + strings.Repeat("pull,", 8) + "pull", Scope{}, false},
}

func TestParseScope(t *testing.T) {
	for _, c := range scopeCases {
		t.Run(c.in, func(t *testing.T) {
			got, ok := ParseScope(c.in)
			if ok != c.ok || !reflect.DeepEqual(got, c.want) {
				t.Errorf("ParseScope(%q) = %+v, %v, want %+v, %v", c.in, got, ok, c.want, c.ok)
			}
		})
	}
}

func TestParseScopes(t *testing.T) {
	got, capped := ParseScopes([]string{"repository:a/b:pull  repository:a/c:push", "bad", "registry:catalog:*"})
	want := []Scope{{"repository", "a/b", []string{"pull"}}, {"repository", "a/c", []string{"push"}}, {"registry", "catalog", []string{"*"}}}
	if capped || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseScopes(three, one bad) = %+v, %v, want %+v, false", got, capped, want)
	}
	many := strings.Repeat("repository:a/b:pull ", MaxScopes+5)
	got, capped = ParseScopes([]string{many})
	if len(got) != MaxScopes || !capped {
		t.Errorf("ParseScopes(%d scopes) = %d scopes, capped %v, want %d, true", MaxScopes+5, len(got), capped, MaxScopes)
	}
	if got, capped := ParseScopes(nil); got != nil || capped {
		t.Errorf("ParseScopes(nil) = %v, %v, want nil, false", got, capped)
	}
}

var nameCases = []struct {
	in, want string
	ok       bool
}{
	{"group/project", "group/project", true},
	{"Group/Project/Image", "group/project/image", true},
	{"g/p/a/b", "g/p/a/b", true},
	{"my-group/my.project/my_image", "my-group/my.project/my_image", true},
	{"g/p__x", "g/p__x", true},
	{"g/p--x", "g/p--x", true},
	{"project", "", false},      // no namespace: no project
	{"g//p", "", false},         // empty segment
	{"g/p/", "", false},         // trailing slash
	{"/g/p", "", false},         // leading slash
	{"g/-p", "", false},         // segment starting with a separator
	{"g/p.", "", false},         // ending with a separator
	{"g/p___x", "", false},      // three underscores
	{"g/p x", "", false},        // space
	{"g/p:tag", "", false},      // colon
	{"g/p@sha256:x", "", false}, // digest
	{"g/ü", "", false},
	{strings.Repeat("a/", 18) + "a", strings.Repeat("a/", 18) + "a", true}, // 19 segments
	{strings.Repeat("a/", 19) + "a", "", false},                            // 20
	{"a/" + strings.Repeat("b", 254), "", false},                           // longer than 255
}

func TestRepositoryName(t *testing.T) {
	for _, c := range nameCases {
		t.Run(c.in, func(t *testing.T) {
			got, ok := RepositoryName(c.in)
			if got != c.want || ok != c.ok {
				t.Errorf("RepositoryName(%q) = %q, %v, want %q, %v", c.in, got, ok, c.want, c.ok)
			}
		})
	}
}

func TestProjectCandidates(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"g/p", []string{"g/p"}},
		{"g/p/i", []string{"g/p/i", "g/p"}},
		{"g/p/a/b", []string{"g/p/a/b", "g/p/a", "g/p"}},
		{"g/s/p/a/b", []string{"g/s/p/a/b", "g/s/p/a", "g/s/p"}},
	} {
		if got := ProjectCandidates(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ProjectCandidates(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzParseScope(f *testing.F) {
	for _, c := range scopeCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, ok := ParseScope(s)
		if !ok {
			return
		}
		if sc.Type == "" || sc.Name == "" || strings.Contains(sc.Type, ":") || strings.Contains(sc.Name, ":") {
			t.Fatalf("ParseScope(%q) = %+v: empty or colon in type or name", s, sc)
		}
		if len(sc.Actions) == 0 || len(sc.Actions) > maxActions {
			t.Fatalf("ParseScope(%q) = %d actions", s, len(sc.Actions))
		}
		if back := sc.Type + ":" + sc.Name + ":" + strings.Join(sc.Actions, ","); back != s {
			t.Fatalf("ParseScope(%q) round trip = %q", s, back)
		}
	})
}

func FuzzRepositoryName(f *testing.F) {
	for _, c := range nameCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, ok := RepositoryName(s)
		if !ok {
			return
		}
		if name != strings.ToLower(name) || len(name) > maxNameLength || !nameRE.MatchString(name) {
			t.Fatalf("RepositoryName(%q) = %q, not normalised", s, name)
		}
		cands := ProjectCandidates(name)
		if len(cands) == 0 || len(cands) > levels+1 || cands[0] != name {
			t.Fatalf("ProjectCandidates(%q) = %q", name, cands)
		}
		for _, c := range cands {
			if n := strings.Count(c, "/") + 1; n < minSegments || !strings.HasPrefix(name, c) {
				t.Fatalf("ProjectCandidates(%q) holds %q", name, c)
			}
		}
	})
}

package advise

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

var today = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

// TestDecideLeaves covers every leaf of the tree.
func TestDecideLeaves(t *testing.T) {
	cases := []struct {
		name     string
		q        Question
		leaf     string
		typ      string
		scopes   []string
		level    int
		lifetime int
		command  string // a fragment of the first command
	}{
		{"person reading the API", Question{Needs: []string{NeedAPIRead}}, "person", TypePersonal, []string{"read_api"}, 0, 30, "/-/user_settings/personal_access_tokens"},
		{"person, access ignored", Question{Access: AccessInstance, Needs: []string{NeedAPIWrite, NeedAPIRead, NeedGitPush}}, "person", TypePersonal, []string{"api", "write_repository"}, 0, 30, "personal_access_tokens"},
		{"CI job cloning and pulling images", Question{Automation: true, InCI: true, Needs: []string{NeedGitRead, NeedRegistryRead}}, "job", TypeJob, []string{}, 0, 0, "JOB-TOKEN: $CI_JOB_TOKEN"},
		{"CI job pushing images", Question{Automation: true, InCI: true, Access: AccessGroup, Needs: []string{NeedRegistryPush}}, "job", TypeJob, []string{}, 0, 0, "$CI_API_V4_URL"},
		{"CI job that must push code falls to a project token", Question{Automation: true, InCI: true, Needs: []string{NeedGitPush}}, "project", TypeProject, []string{"write_repository"}, 30, 90, "/projects/GROUP%2FPROJECT/access_tokens"},
		{"deploy reading code", Question{Automation: true, Access: AccessProject, Needs: []string{NeedGitRead}}, "deploy", TypeDeploy, []string{"read_repository"}, 0, 365, "/deploy_tokens"},
		{"deploy reading code and images", Question{Automation: true, Needs: []string{"git-read", "registry-read"}, Project: "acme/app"}, "deploy", TypeDeploy, []string{"read_repository", "read_registry"}, 0, 365, "/projects/acme%2Fapp/deploy_tokens"},
		{"project bot reading the API", Question{Automation: true, Access: AccessProject, Needs: []string{NeedAPIRead}}, "project", TypeProject, []string{"read_api"}, 20, 90, "\"access_level\":20"},
		{"project bot writing", Question{Automation: true, Access: AccessProject, Needs: []string{NeedAPIWrite, NeedAPIRead, NeedSelfRotate}}, "project", TypeProject, []string{"api", "self_rotate"}, 30, 90, "\"scopes\":[\"api\",\"self_rotate\"]"},
		{"group bot pushing", Question{Automation: true, Access: AccessGroup, Group: "acme", Needs: []string{NeedGitPush, NeedGitRead}}, "group", TypeGroup, []string{"write_repository"}, 30, 90, "/groups/acme/access_tokens"},
		{"group bot reading", Question{Automation: true, Access: AccessGroup, Needs: []string{NeedGitRead}}, "group", TypeGroup, []string{"read_repository"}, 20, 90, "/groups/GROUP/access_tokens"},
		{"instance automation", Question{Automation: true, Access: AccessInstance, Needs: []string{NeedAPIRead, NeedUserRead}}, "service_account", TypeServiceAccount, []string{"read_api", "read_user"}, 20, 90, "/service_accounts"},
		{"instance automation in CI pushing", Question{Automation: true, InCI: true, Access: AccessInstance, Needs: []string{NeedRegistryPush, NeedAPIWrite}}, "service_account", TypeServiceAccount, []string{"api", "read_registry", "write_registry"}, 30, 90, "/service_accounts"},
	}
	leaves := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.q.Today = today
			a, err := Decide(c.q)
			if err != nil {
				t.Fatalf("Decide(%+v) = %v", c.q, err)
			}
			if a.Leaf != c.leaf || a.Type != c.typ || !slices.Equal(a.Scopes, c.scopes) || a.AccessLevel != c.level || a.LifetimeDays != c.lifetime {
				t.Fatalf("Decide(%+v) = leaf %s type %s scopes %v level %d lifetime %d, want %s %s %v %d %d",
					c.q, a.Leaf, a.Type, a.Scopes, a.AccessLevel, a.LifetimeDays, c.leaf, c.typ, c.scopes, c.level, c.lifetime)
			}
			if len(a.Commands) == 0 || !strings.Contains(strings.Join(a.Commands, "\n"), c.command) {
				t.Fatalf("commands %q lack %q", a.Commands, c.command)
			}
			if a.Reasons.Type == "" || a.Reasons.Scopes == "" || a.Reasons.Lifetime == "" || (a.Role != "" && a.Reasons.Role == "") {
				t.Fatalf("a choice without its reason: %+v", a.Reasons)
			}
			if c.lifetime > 0 && a.ExpiresAt != today.AddDate(0, 0, c.lifetime).Format("2006-01-02") {
				t.Fatalf("expires_at = %s, want today + %d days", a.ExpiresAt, c.lifetime)
			}
			if c.lifetime > 0 && !strings.Contains(strings.Join(a.Commands, "\n"), a.ExpiresAt) {
				t.Fatalf("commands %q do not carry expires_at %s", a.Commands, a.ExpiresAt)
			}
			var b bytes.Buffer
			if err := a.WriteText(&b); err != nil || !strings.Contains(b.String(), "why:") {
				t.Fatalf("WriteText = %q, %v", b.String(), err)
			}
			leaves[a.Leaf] = true
		})
	}
	for _, l := range []string{"person", "job", "deploy", "project", "group", "service_account"} {
		if !leaves[l] {
			t.Errorf("leaf %s has no case", l)
		}
	}
}

func TestDecideRefuses(t *testing.T) {
	for _, q := range []Question{
		{Automation: true, Access: "world", Needs: []string{NeedAPIRead}},
		{Automation: true},
		{Needs: []string{"teleport"}},
	} {
		if _, err := Decide(q); err == nil {
			t.Errorf("Decide(%+v) = nil error, want a refusal", q)
		}
	}
}

func TestParseNeeds(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		ok   bool
	}{
		{"git-push,api-read,registry", []string{NeedGitPush, NeedAPIRead, NeedRegistryRead}, true},
		{" API-READ , api-read ", []string{NeedAPIRead}, true},
		{"", nil, false},
		{"git-push,fly", nil, false},
	}
	for _, c := range cases {
		got, err := ParseNeeds(c.in)
		if (err == nil) != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("ParseNeeds(%q) = %v, %v; want %v (ok %v)", c.in, got, err, c.want, c.ok)
		}
	}
}

func FuzzParseNeeds(f *testing.F) {
	for _, s := range []string{"git-push,api-read,registry", " API-READ , api-read ", "", "a,,b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseNeeds(s)
		if err != nil {
			return
		}
		if len(got) == 0 {
			t.Fatalf("ParseNeeds(%q) = empty, nil", s)
		}
		for _, n := range got {
			if !slices.Contains(AllNeeds, n) {
				t.Fatalf("ParseNeeds(%q) gave unknown %q", s, n)
			}
		}
	})
}

// TestAsk: the questions reach the same leaves as the flags.
func TestAsk(t *testing.T) {
	cases := []struct {
		answers, leaf string
	}{
		{"n\napi-read\n", "person"},
		{"y\ny\nproject\ngit-read\n", "job"},
		{"yes\nno\nproject\ngit-read,registry-read\n", "deploy"},
		{"y\nn\nproject\napi-write\n", "project"},
		{"y\nn\nmaybe\ngroup\nfly\ngit-push\n", "group"},
		{"y\nn\ninstance\napi-read\n", "service_account"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		q, err := Ask(strings.NewReader(c.answers), &out, Question{Today: today})
		if err != nil {
			t.Fatalf("Ask(%q) = %v", c.answers, err)
		}
		a, err := Decide(q)
		if err != nil || a.Leaf != c.leaf {
			t.Errorf("Ask(%q) then Decide = %s, %v; want %s", c.answers, a.Leaf, err, c.leaf)
		}
	}
	if _, err := Ask(strings.NewReader("y\n"), &bytes.Buffer{}, Question{}); err == nil {
		t.Error("Ask with answers running out = nil error")
	}
}

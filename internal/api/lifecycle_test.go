package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
)

func TestConcurrentRotationOneWinner(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			srv := keygatetest.NewServerWith(t, keygatetest.Options{Postgres: backend == "postgres"})
			u := srv.User(t, "racer", false)
			for round := range 5 {
				tok := srv.Token(t, u.ID, "race", keygate.ScopeAPI)
				c := newClient(t, srv, tok)
				var wg sync.WaitGroup
				statuses := make([]int, 4)
				tokens := make([]string, 4)
				start := make(chan struct{})
				for i := range statuses {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						pat, resp, _ := c.PersonalAccessTokens.RotatePersonalAccessTokenSelf(nil)
						if resp != nil {
							statuses[i] = resp.StatusCode
						}
						if pat != nil {
							tokens[i] = pat.Token
						}
					}()
				}
				close(start)
				wg.Wait()
				// Exactly one rotation wins. A loser that arrived after the winner's commit
				// presented a rotated-away token to a rotate endpoint: that is a reuse
				// (DESIGN §1.1), so the winner's successor is revoked too. A loser inside the
				// winner's transaction gets 400 and leaves the successor alive.
				wins, reused, winner := 0, false, ""
				for i, s := range statuses {
					switch s {
					case 200:
						wins++
						winner = tokens[i]
					case 401:
						reused = true
					case 400:
					default:
						t.Errorf("round %d: status %d, want 200, 400 or 401", round, s)
					}
				}
				if wins != 1 {
					t.Fatalf("round %d: %d rotations won (%v), want exactly 1", round, wins, statuses)
				}
				_, resp, _ := newClient(t, srv, winner).Users.CurrentUser()
				if want := map[bool]int{true: 401, false: 200}[reused]; resp == nil || resp.StatusCode != want {
					t.Errorf("round %d (%v): successor answers %v, want %d", round, statuses, resp, want)
				}
			}
			all, _, err := srv.Service.Tokens(context.Background(), authz.SystemSubject(), storeFilterUser(u.ID, "active"))
			if err != nil || len(all) > 5 {
				t.Fatalf("active tokens = %d, %v; want at most one live successor per round", len(all), err)
			}
		})
	}
}

func TestReuseDetectionRevokesFamily(t *testing.T) {
	srv := keygatetest.NewServer(t)
	u := srv.User(t, "reuser", false)
	a := srv.Token(t, u.ID, "fam", keygate.ScopeAPI)
	b, _, err := newClient(t, srv, a).PersonalAccessTokens.RotatePersonalAccessTokenSelf(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := newClient(t, srv, b.Token).PersonalAccessTokens.RotatePersonalAccessTokenSelf(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Using the old token elsewhere is just a 401.
	_, resp, _ := newClient(t, srv, a).Users.CurrentUser()
	wantStatus(t, resp, nil, 401)
	if _, _, err := newClient(t, srv, c.Token).Users.CurrentUser(); err != nil {
		t.Fatalf("live successor refused after a plain reuse: %v", err)
	}
	// Presenting it to a rotate endpoint kills the whole family.
	_, resp, _ = newClient(t, srv, a).PersonalAccessTokens.RotatePersonalAccessTokenSelf(nil)
	wantStatus(t, resp, nil, 401)
	_, resp, _ = newClient(t, srv, c.Token).Users.CurrentUser()
	wantStatus(t, resp, nil, 401)
}

func TestLastUsed(t *testing.T) {
	srv := keygatetest.NewServer(t)
	ctx := context.Background()
	u := srv.User(t, "user1", false)
	tok := srv.Token(t, u.ID, "lu", keygate.ScopeAPI)
	c := newClient(t, srv, tok)
	self := func() *gitlab.PersonalAccessToken {
		t.Helper()
		if err := srv.Service.FlushUses(ctx); err != nil {
			t.Fatal(err)
		}
		p, _, err := c.PersonalAccessTokens.GetSinglePersonalAccessToken()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := self()
	again := self()
	if again.LastUsedAt == nil || !again.LastUsedAt.Equal(keygatetest.Start) {
		t.Fatalf("last_used_at = %v, want %v (first use; %v)", again.LastUsedAt, keygatetest.Start, first.LastUsedAt)
	}
	srv.Clock.Advance(5 * time.Minute)
	if p := self(); !p.LastUsedAt.Equal(keygatetest.Start) {
		t.Errorf("after 5 min last_used_at = %v, want unchanged (written at most every 10 min)", p.LastUsedAt)
	}
	srv.Clock.Advance(6 * time.Minute)
	self()
	if p := self(); !p.LastUsedAt.Equal(keygatetest.Start.Add(11 * time.Minute)) {
		t.Errorf("after 11 min last_used_at = %v, want updated", p.LastUsedAt)
	}
	raw, err := http.NewRequest("GET", srv.API+"/personal_access_tokens/self", nil)
	if err != nil {
		t.Fatal(err)
	}
	raw.Header.Set("PRIVATE-TOKEN", tok)
	resp, err := http.DefaultClient.Do(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		IPs []string `json:"last_used_ips"`
	}
	if err := decodeJSON(resp, &body); err != nil || len(body.IPs) != 1 || body.IPs[0] != "127.0.0.1" {
		t.Errorf("last_used_ips = %v, %v; want [127.0.0.1]", body.IPs, err)
	}
}

func TestSettingsAndAdminMode(t *testing.T) {
	srv := keygatetest.NewServer(t)
	root := newClient(t, srv, srv.RootToken)
	plainRoot := newClient(t, srv, srv.Token(t, 1, "plain", keygate.ScopeAPI))

	if _, _, err := plainRoot.Users.ListUsers(nil); err != nil {
		t.Fatalf("admin without admin_mode scope while admin mode is off: %v", err)
	}
	if _, _, err := root.Settings.UpdateSettings(&gitlab.UpdateSettingsOptions{AdminMode: gitlab.Ptr(true)}); err != nil {
		t.Fatalf("UpdateSettings(admin_mode): %v", err)
	}
	_, resp, _ := plainRoot.Users.CreateUser(&gitlab.CreateUserOptions{Email: gitlab.Ptr("z@example.com"), Username: gitlab.Ptr("z"), Name: gitlab.Ptr("Z"), Password: gitlab.Ptr("12345678zz")})
	wantStatus(t, resp, nil, 403)
	if _, _, err := root.Users.CreateUser(&gitlab.CreateUserOptions{Email: gitlab.Ptr("z@example.com"), Username: gitlab.Ptr("z"), Name: gitlab.Ptr("Z"), Password: gitlab.Ptr("12345678zz")}); err != nil {
		t.Fatalf("admin_mode token: %v", err)
	}

	// Prefix and expiry policy.
	if _, _, err := root.Settings.UpdateSettings(&gitlab.UpdateSettingsOptions{
		PersonalAccessTokenPrefix:        gitlab.Ptr("corp-"),
		RequirePersonalAccessTokenExpiry: gitlab.Ptr(false),
	}); err != nil {
		t.Fatalf("UpdateSettings: %v", err)
	}
	pat, _, err := root.Users.CreatePersonalAccessToken(2, &gitlab.CreatePersonalAccessTokenOptions{Name: gitlab.Ptr("forever"), Scopes: &[]string{"read_user"}})
	if err != nil {
		t.Fatalf("create without expiry: %v", err)
	}
	if !strings.HasPrefix(pat.Token, "corp-") || pat.ExpiresAt != nil {
		t.Errorf("token = prefix %q, expires %v; want corp- and no expiry", pat.Token[:5], pat.ExpiresAt)
	}
	if _, _, err := newClient(t, srv, pat.Token).Users.CurrentUser(); err != nil {
		t.Errorf("corp- token refused: %v", err)
	}
	if _, _, err := root.Users.CurrentUser(); err != nil {
		t.Errorf("old glpat- token refused after the prefix change: %v", err)
	}
	s, _, err := root.Settings.GetSettings()
	if err != nil || s.PersonalAccessTokenPrefix != "corp-" || s.RequirePersonalAccessTokenExpiry {
		t.Errorf("GetSettings = %+v, %v", s, err)
	}
}

func TestImpersonationDisabled(t *testing.T) {
	srv := keygatetest.NewServer(t)
	ctx := context.Background()
	u := srv.User(t, "imp", false)
	exp := keygate.DateOf(srv.Clock.Now()).AddDays(3)
	iss, err := srv.Service.CreatePersonalToken(ctx, authz.SystemSubject(), u.ID, serviceInput("imp", true, &exp))
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv, iss.Secret.Reveal())
	if _, _, err := c.Users.CurrentUser(); err != nil {
		t.Fatalf("impersonation token: %v", err)
	}
	st, _ := srv.Service.Settings(ctx)
	st.ImpersonationEnabled = false
	if err := srv.Service.PutSettings(ctx, authz.SystemSubject(), st); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "impersonation_disabled", doGolden(t, srv, goldenCase{method: "GET", path: "/user", token: iss.Secret.Reveal()}))
}

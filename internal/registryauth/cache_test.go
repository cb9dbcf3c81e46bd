package registryauth_test

import (
	"context"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
)

// TestResolvedNamesFollowChanges: a name resolved once is remembered, yet a change that
// takes access away (the membership removed, the project's registry disabled) is seen
// by the very next /jwt/auth.
func TestResolvedNamesFollowChanges(t *testing.T) {
	w := newWorld(t, keygatetest.Options{Registry: true})
	tok := w.pat("dev", keygate.ScopeReadRegistry, keygate.ScopeWriteRegistry)
	push := scopes("repository:grp/app:pull,push")
	for range 3 { // warm
		if acc := w.accessOf(w.auth("GET", "dev", tok, push)); len(acc) != 1 || len(acc[0].Actions) != 2 {
			t.Fatalf("Developer's grant = %+v, want pull and push", acc)
		}
	}
	if err := w.srv.Service.RemoveMember(context.Background(), authz.SystemSubject(), w.groupSource(), w.u["dev"].ID); err != nil {
		t.Fatal(err)
	}
	if acc := w.accessOf(w.auth("GET", "dev", tok, push)); len(acc) != 0 {
		t.Fatalf("after the membership was removed: grant = %+v, want nothing", acc)
	}
}

package api

import (
	"fmt"
	"testing"

	"github.com/keygate/keygate"
)

// TestUserBodiesNeverStale: an answer is reused only for the very user it was built
// from, per view, and the cache stays within its bound.
func TestUserBodiesNeverStale(t *testing.T) {
	var c userBodies
	u := keygate.User{ID: 7, Username: "ana", Name: "Ana"}
	c.put(u, false, []byte("public"))
	if b, ok := c.get(u, false); !ok || string(b) != "public" {
		t.Fatalf("get same user = %q, %v", b, ok)
	}
	if _, ok := c.get(u, true); ok {
		t.Error("the admin view reused the public answer")
	}
	renamed := u
	renamed.Name = "Ana B."
	if _, ok := c.get(renamed, false); ok {
		t.Error("a changed user got the old answer")
	}
	for i := range maxUserBodies + 10 {
		c.put(keygate.User{ID: int64(100 + i)}, false, []byte(fmt.Sprint(i)))
	}
	if n := len(c.m); n != maxUserBodies {
		t.Errorf("entries = %d, want the bound %d", n, maxUserBodies)
	}
}

package registryauth_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/service"
)

// client pushes and pulls with go-containerregistry, the library behind crane.
type client struct {
	t    *testing.T
	host string
}

func (c client) ref(repo string) name.Reference {
	c.t.Helper()
	r, err := name.ParseReference(c.host+"/"+repo+":v1", name.Insecure)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

func auth(user, pass string) remote.Option {
	if user == "" && pass == "" {
		return remote.WithAuth(authn.Anonymous)
	}
	return remote.WithAuth(&authn.Basic{Username: user, Password: pass})
}

func (c client) push(repo string, o remote.Option) (v1.Image, error) {
	c.t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		c.t.Fatal(err)
	}
	return img, remote.Write(c.ref(repo), img, o, remote.WithContext(c.t.Context()))
}

// pull fetches the image and reads every layer.
func (c client) pull(repo string, o remote.Option) (v1.Hash, error) {
	c.t.Helper()
	img, err := remote.Image(c.ref(repo), o, remote.WithContext(c.t.Context()))
	if err != nil {
		return v1.Hash{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return v1.Hash{}, err
		}
		_, err = rc.Read(make([]byte, 64))
		rc.Close()
		if err != nil {
			return v1.Hash{}, err
		}
	}
	return img.Digest()
}

// refused checks that err is the registry's or Keygate's refusal (401 or 403), not some
// other failure.
func refused(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s succeeded, want a refusal", what)
		return
	}
	t.Logf("%s refused: %v", what, err)
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return
	}
	if strings.Contains(err.Error(), "UNAUTHORIZED") || strings.Contains(err.Error(), "DENIED") || strings.Contains(err.Error(), "access forbidden") {
		return
	}
	t.Errorf("%s: %v, want a 401 or 403 refusal", what, err)
}

func TestRealRegistry(t *testing.T) {
	w := newWorld(t, keygatetest.Options{Registry: true})
	// The registry checks iat, nbf and exp against the real time.
	w.srv.Clock.Set(time.Now())
	c := client{t: t, host: keygatetest.StartRegistry(t, w.srv)}
	rw := []keygate.Scope{keygate.ScopeReadRegistry, keygate.ScopeWriteRegistry}
	dev := auth("dev", w.pat("dev", rw...))
	rep := auth("rep", w.pat("rep", rw...))

	img, err := c.push("grp/app/web", dev)
	if err != nil {
		t.Fatalf("Developer push: %v", err)
	}
	want, _ := img.Digest()
	if got, err := c.pull("grp/app/web", dev); err != nil || got != want {
		t.Fatalf("Developer pull = %v, %v, want %v", got, err, want)
	}
	if got, err := c.pull("grp/app/web", rep); err != nil || got != want {
		t.Errorf("Reporter pull = %v, %v, want %v", got, err, want)
	}
	_, err = c.push("grp/app/web", rep)
	refused(t, "Reporter push", err)

	_, err = c.pull("grp/app/web", auth("dev", w.pat("dev", keygate.ScopeReadRepository)))
	refused(t, "read_repository-only pull", err)

	ctx := context.Background()
	iss, err := w.srv.Service.CreatePersonalToken(ctx, authz.SystemSubject(), w.u["dev"].ID, service.TokenInput{
		Name: "revoked", Scopes: keygate.Scopes{keygate.ScopeReadRegistry}, ExpiresAt: ptr(keygate.DateOf(w.srv.Clock.Now()).AddDays(3)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.srv.Service.Revoke(ctx, authz.SystemSubject(), iss.Token.ID); err != nil {
		t.Fatal(err)
	}
	revoked := iss.Secret.Reveal()
	_, err = c.pull("grp/app/web", auth("dev", revoked))
	refused(t, "revoked token pull", err)

	bot := auth("bot", w.projectToken(w.p["app"], keygate.Developer, rw...))
	if _, err := c.push("grp/app/bot", bot); err != nil {
		t.Errorf("project token (Developer) push: %v", err)
	}

	olga := authz.Subject{User: w.u["olga"]}
	w.project(olga, "other", keygate.Private, w.grp.ID)
	job := auth("gitlab-ci-token", w.job("dev", w.p["app"]))
	if _, err := c.push("grp/app/ci", job); err != nil {
		t.Errorf("job token push to its own project: %v", err)
	}
	if _, err := c.pull("grp/app/ci", job); err != nil {
		t.Errorf("job token pull from its own project: %v", err)
	}
	_, err = c.push("grp/other/ci", job)
	refused(t, "job token push to another project", err)

	owner := auth("olga", w.pat("olga", rw...))
	pub, err := c.push("pub/site/img", owner)
	if err != nil {
		t.Fatalf("owner push to the public project: %v", err)
	}
	wantPub, _ := pub.Digest()
	if got, err := c.pull("pub/site/img", auth("", "")); err != nil || got != wantPub {
		t.Errorf("anonymous pull of a public project = %v, %v, want %v", got, err, wantPub)
	}
	_, err = c.pull("grp/app/web", auth("", ""))
	refused(t, "anonymous pull of a private project", err)
	_, err = c.push("pub/site/img", auth("", ""))
	refused(t, "anonymous push", err)

	// Fine-grained tokens (spec of fine-grained tokens §3.5): read_container_repository
	// on the group above pulls, nothing pushes, a grant on another project reaches
	// nothing, and delete_container_repository deletes as a Maintainer.
	read := []string{authz.PermReadContainerRepository}
	fine := auth("dev", w.granularPAT("dev", false, onGroups(append(read, authz.PermDeleteContainerRepository), w.grp.ID)))
	if got, err := c.pull("grp/app/web", fine); err != nil || got != want {
		t.Errorf("fine-grained pull = %v, %v, want %v", got, err, want)
	}
	_, err = c.push("grp/app/web", fine)
	refused(t, "fine-grained push", err)
	_, err = c.pull("grp/app/web", auth("dev", w.granularPAT("dev", false, onProjects(read, w.p["site"].ID))))
	refused(t, "fine-grained pull outside the grant", err)
	gone, err := c.push("grp/app/gone", dev)
	if err != nil {
		t.Fatalf("Developer push: %v", err)
	}
	goneDigest, _ := gone.Digest()
	del, err := name.NewDigest(c.host+"/grp/app/gone@"+goneDigest.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	refused(t, "fine-grained delete without delete_container_repository",
		remote.Delete(del, auth("mia", w.granularPAT("mia", false, onProjects(read, w.p["app"].ID))), remote.WithContext(t.Context())))
	miaFine := auth("mia", w.granularPAT("mia", false, onProjects([]string{authz.PermDeleteContainerRepository}, w.p["app"].ID)))
	if err := remote.Delete(del, miaFine, remote.WithContext(t.Context())); err != nil {
		t.Errorf("fine-grained delete as a Maintainer: %v", err)
	}
	if _, err := remote.Head(del, dev, remote.WithContext(t.Context())); err == nil {
		t.Error("the deleted image is still there")
	}

	// Disabling the project's registry stops pulls at once (on the next token).
	w.setRegistry(w.p["app"], keygate.RegistryDisabled)
	_, err = c.pull("grp/app/web", dev)
	refused(t, "pull with the registry disabled", err)
}

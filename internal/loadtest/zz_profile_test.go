package loadtest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/loadtest"
)

func TestZZProfile(t *testing.T) {
	if os.Getenv("KEYGATE_PROFILE") == "" {
		t.Skip()
	}
	srv := keygatetest.NewServer(t)
	toks := make([]string, 1000)
	for i := range toks {
		toks[i] = srv.Token(t, 1, "p", keygate.ScopeAPI)
	}
	u, _ := loadtest.CheckURL(srv.URL)
	rep, err := loadtest.Run(context.Background(), loadtest.Config{URL: u, Tokens: toks, Connections: 16, Duration: 8 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rps %.0f errors %d", rep.Keygate.Throughput, rep.Keygate.Errors)
}

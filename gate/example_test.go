package gate_test

import (
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/keygate/keygate/gate"
)

// A Go service behind Keygate: tokens with api or read_api reach the handler, which reads
// who is calling from the request context.
func Example() {
	g, err := gate.New(gate.Config{URL: "https://keygate.internal", Token: os.Getenv("KEYGATE_INTROSPECT_TOKEN")})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := gate.IdentityFrom(r.Context())
		fmt.Fprintf(w, "hello %s (token %d)\n", id.Username, id.TokenID)
	})
	mux := http.NewServeMux()
	mux.Handle("/api/", g.Middleware(gate.Policy{ScopesAny: []string{"api", "read_api"}})(api))
	_ = http.ListenAndServe("127.0.0.1:9000", mux)
}

// Command permdocs writes docs/permissions.md from the API's route table and permission
// catalogue (run by go generate in internal/api).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/keygate/keygate/internal/api"
)

func main() {
	out := flag.String("o", "docs/permissions.md", "file to write")
	flag.Parse()
	if err := os.WriteFile(*out, []byte(api.New(api.Config{}).PermissionsMarkdown()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "permdocs:", err)
		os.Exit(1)
	}
}

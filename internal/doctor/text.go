package doctor

import (
	"fmt"
	"io"
	"strings"
)

var marks = map[string]string{OK: "ok  ", Warn: "WARN", Fail: "FAIL", Skip: "skip", Error: "ERR "}

// WriteText prints the report for people: one line per check, cause and fix indented
// under each that did not pass, and a summary line.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "keygate doctor: %s\n", r.URL)
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "  [%s] %-12s %s\n", marks[c.Status], c.Name, c.Message)
		if c.Cause != "" {
			fmt.Fprintf(&b, "         cause: %s\n", c.Cause)
		}
		if c.Fix != "" {
			fmt.Fprintf(&b, "         fix:   %s\n", c.Fix)
		}
	}
	switch r.ExitCode {
	case 0:
		if r.Status == Warn {
			b.WriteString("all checks passed, with warnings\n")
		} else {
			b.WriteString("all checks passed\n")
		}
	case 1:
		b.WriteString("problems found\n")
	default:
		b.WriteString("could not check\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

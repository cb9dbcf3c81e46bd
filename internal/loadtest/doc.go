// Package loadtest drives Keygate's token check over HTTP and measures it against a bare
// net/http handler that answers the same bytes without checking anything: the
// `keygate loadtest` command (issue "Performance, scale and reliability evidence").
//
// The client side is built not to be the bottleneck: one http.Transport per target whose
// connection limits equal the number of workers, so every worker keeps one connection
// alive; one reusable request per worker and operation, its token header rewritten in
// place; response bodies drained into io.Discard; latencies counted in a fixed
// log-linear histogram per worker (no locks, no per-request allocation on the verify
// path beyond what net/http itself does), merged only for the once-a-second progress
// line and the final report.
//
// Every connection is refused unless its address is a loopback address (CheckURL on the
// URL, and again in the dialer on the resolved address), so the command cannot be
// pointed at anyone else's server.
package loadtest

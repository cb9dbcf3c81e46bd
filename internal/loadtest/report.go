package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of one run; --format json prints it as is.
type Report struct {
	URL             string  `json:"url"`
	Mode            string  `json:"mode"` // verify, mix or first-use
	Mix             Mix     `json:"mix"`
	Tokens          int     `json:"tokens"`
	Connections     int     `json:"connections"`
	DurationSeconds float64 `json:"duration_seconds"`
	Rounds          int     `json:"rounds"`
	Keygate         Result  `json:"keygate"`
	Bare            *Result `json:"bare,omitempty"`
	// BareProcess says where the bare handler ran: "own" (a process of its own, as
	// Keygate's server is) or "in-process" (inside the load command).
	BareProcess string `json:"bare_process,omitempty"`
	// Ratio is Keygate's throughput over the bare handler's (0 without Bare).
	Ratio     float64  `json:"ratio"`
	RatioGoal float64  `json:"ratio_goal"`
	Cleanup   *Cleanup `json:"cleanup,omitempty"`
	// names label the two targets in the text table (default keygate and bare).
	names [2]string
}

// MarshalJSON gives the mix GitLab-style snake-case names.
func (m Mix) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]int{"verify": m.Verify, "create": m.Create, "revoke": m.Revoke})
}

// Result is what one target answered.
type Result struct {
	Requests       int64   `json:"requests"`
	Errors         int64   `json:"errors"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// Throughput is requests per second over the whole run.
	Throughput float64             `json:"throughput"`
	Latency    Latency             `json:"latency"`
	Ops        map[string]OpResult `json:"ops"`
	// Statuses counts answers by HTTP status; "transport_error" counts requests that got
	// no answer.
	Statuses   map[string]int64 `json:"statuses"`
	FirstError string           `json:"first_error,omitempty"`
}

// OpResult is one operation's share of a Result.
type OpResult struct {
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Latency  Latency `json:"latency"`
}

// Latency is a distribution, in milliseconds: percentiles from the histogram (nearest
// rank, at most 0.78 % high), mean and max exact.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Cleanup reports the unmeasured revocation, after the run, of the tokens it created and
// did not revoke.
type Cleanup struct {
	Revoked int `json:"revoked"`
	Failed  int `json:"failed"`
}

func latencyOf(h *Histogram) Latency {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return Latency{
		P50: ms(h.Quantile(0.50)), P90: ms(h.Quantile(0.90)), P99: ms(h.Quantile(0.99)),
		Max: ms(h.Max()), Mean: ms(h.Mean()),
	}
}

// Errors is the number of failed requests to Keygate.
func (r *Report) Errors() int64 { return r.Keygate.Errors }

// WriteJSON prints the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText prints the report as a table: one row per target and, in the mixed load,
// one per operation.
func (r *Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "%s load on %s: %d tokens, %d connections, %s per target in %d round(s)\n",
		r.Mode, r.URL, r.Tokens, r.Connections, time.Duration(r.DurationSeconds*float64(time.Second)), r.Rounds)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\top\trequests\terrors\treq/s\tp50\tp90\tp99\tmax\t")
	rows := func(name string, res *Result) {
		row := func(op string, n, errs int64, rate string, l Latency) {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", name, op, n, errs, rate,
				fmtMs(l.P50), fmtMs(l.P90), fmtMs(l.P99), fmtMs(l.Max))
		}
		row("all", res.Requests, res.Errors, fmt.Sprintf("%.0f", res.Throughput), res.Latency)
		if len(res.Ops) > 1 {
			for op := range numOps {
				if o, ok := res.Ops[op.String()]; ok {
					row(op.String(), o.Requests, o.Errors, "", o.Latency)
				}
			}
		}
	}
	names := r.names
	if names[0] == "" {
		names = [2]string{"keygate", "bare"}
	}
	rows(names[0], &r.Keygate)
	if r.Bare != nil {
		rows(names[1], r.Bare)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Bare != nil {
		if r.BareProcess != "" {
			where := "in its own process"
			if r.BareProcess == "in-process" {
				where = "inside the load command's process"
			}
			fmt.Fprintf(w, "bare handler ran %s\n", where)
		}
		verdict := "meets"
		if r.Ratio < r.RatioGoal {
			verdict = "misses"
		}
		fmt.Fprintf(w, "ratio %.2f (%s/%s throughput; %s the goal of %.2f)\n", r.Ratio, names[0], names[1], verdict, r.RatioGoal)
	}
	fmt.Fprintf(w, "errors %d\n", r.Keygate.Errors)
	if r.Keygate.FirstError != "" {
		fmt.Fprintf(w, "first error: %s\n", r.Keygate.FirstError)
	}
	if r.Cleanup != nil {
		fmt.Fprintf(w, "clean-up: revoked %d tokens created by the run (%d failed)\n", r.Cleanup.Revoked, r.Cleanup.Failed)
	}
	return nil
}

func fmtMs(ms float64) string { return fmtDur(time.Duration(ms * 1e6)) }

// fmtDur prints a latency with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return strings.TrimSuffix(fmt.Sprintf("%.3gms", float64(d)/1e6), ".")
	default:
		return fmt.Sprintf("%.3gµs", float64(d)/1e3)
	}
}

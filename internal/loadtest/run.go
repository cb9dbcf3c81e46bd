package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits on one run. Load goes only to this machine and stops by itself.
const (
	MaxDuration    = 10 * time.Minute
	MaxConnections = 1024
	// RatioGoal is the target for Keygate's throughput over the bare handler's.
	RatioGoal = 0.7
	// requestTimeout bounds one request: the run's end plus this is a hard stop, so a
	// hung server cannot keep the command alive.
	requestTimeout = 30 * time.Second
)

// The paths the load requests, below the base URL.
const (
	pathUser   = "/api/v4/user"
	pathCreate = "/api/v4/user/personal_access_tokens"
	pathSelf   = "/api/v4/personal_access_tokens/self"
	pathHealth = "/-/health"
)

// createBody asks for a token the caller may create for itself (GitLab allows only
// k8s_proxy and self_rotate there); the server's default expiry applies.
const createBody = `{"name":"loadtest","scopes":["k8s_proxy"]}`

// expected is the status each operation answers when it succeeds. Any other status is
// an error: Keygate's answers to these requests have no legitimate alternative.
func expected(op Op) int {
	switch op {
	case OpCreate:
		return http.StatusCreated
	case OpRevoke:
		return http.StatusNoContent
	}
	return http.StatusOK
}

// Config is one run.
type Config struct {
	// URL is Keygate's base URL (from CheckURL); the API is below it at /api/v4.
	URL *url.URL
	// Tokens are the distinct tokens presented, round robin (worker i starts at token i
	// and steps by the number of connections). With creates in the mix they need the api
	// scope, since they create the tokens that are later revoked.
	Tokens []string
	// Connections is the number of concurrent workers, each with one kept-alive
	// connection.
	Connections int
	// Duration is how long each target is driven (at most MaxDuration).
	Duration time.Duration
	// Mix is the share of each operation; the zero Mix means VerifyOnly.
	Mix Mix
	// Once presents every token exactly once, in the given order, and ends when all were
	// used (or at Duration): first-use (cache-miss) latency. Tokens[0] is spent on the
	// probe and not measured. Verify only.
	Once bool
	// Bare also drives the bare handler and computes the ratio.
	Bare bool
	// BareExec, when set, is the executable started as the bare handler's own process
	// (one that calls ServeBareChild first): then the bare side pays for a second
	// process on the machine, as Keygate does, instead of sharing the load command's.
	// Empty: the handler runs inside this process.
	BareExec string
	// Rounds splits Duration into this many alternations of Keygate and the bare
	// handler (0 means 1), so that a change in the machine's other load during the run
	// weighs on both sides alike. Not with Once.
	Rounds int
	// Progress receives a progress line once a second (nil: none).
	Progress io.Writer
}

func (c *Config) validate() error {
	if c.Mix == (Mix{}) {
		c.Mix = VerifyOnly()
	}
	switch {
	case c.URL == nil:
		return errors.New("loadtest: no URL")
	case !loopbackHost(c.URL.Hostname()):
		return fmt.Errorf("%w: %q", ErrNotLoopback, c.URL.Hostname())
	case len(c.Tokens) == 0:
		return errors.New("loadtest: no tokens")
	case c.Once && len(c.Tokens) < 2:
		return errors.New("loadtest: first-use mode needs at least 2 tokens (the first is spent on the probe)")
	case c.Connections < 1 || c.Connections > MaxConnections:
		return fmt.Errorf("loadtest: connections must be 1 to %d, not %d", MaxConnections, c.Connections)
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("loadtest: duration must be above 0 and at most %s, not %s", MaxDuration, c.Duration)
	case c.Once && c.Mix != VerifyOnly():
		return errors.New("loadtest: first-use mode is verify only")
	case c.Rounds < 0 || c.Rounds > 100 || c.Once && c.Rounds > 1:
		return errors.New("loadtest: rounds must be 1 to 100, and 1 in first-use mode")
	case c.Rounds > 0 && c.Duration/time.Duration(c.Rounds) < 100*time.Millisecond:
		return errors.New("loadtest: each round needs at least 100ms")
	}
	return c.Mix.Validate()
}

// Run probes Keygate with the first token, drives it, revokes the tokens the run created
// and did not revoke, then (with Bare) drives the bare handler the same way. It returns an
// error only when the run could not happen; request errors are in the Report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	base := strings.TrimRight(cfg.URL.String(), "/")
	kg := newTarget("keygate", base, cfg.Connections)
	defer kg.rt.CloseIdleConnections()
	body, err := kg.probe(ctx, cfg.Tokens[0])
	if err != nil {
		return nil, err
	}
	tokens := cfg.Tokens
	if cfg.Once {
		tokens = tokens[1:]
	}
	rep := &Report{
		URL: base + pathUser, Mode: cfg.mode(), Tokens: len(tokens), Connections: cfg.Connections,
		DurationSeconds: cfg.Duration.Seconds(), Rounds: max(cfg.Rounds, 1), Mix: cfg.Mix, RatioGoal: RatioGoal,
	}
	if cfg.Bare {
		rep.BareProcess = map[bool]string{true: "own", false: "in-process"}[cfg.BareExec != ""]
	}
	rounds := max(cfg.Rounds, 1)
	per := cfg.Duration / time.Duration(rounds)
	var bt *target
	if cfg.Bare {
		start := startBare
		if cfg.BareExec != "" {
			start = func(body []byte) (*bare, error) { return startBareProcess(ctx, cfg.BareExec, body) }
		}
		b, err := start(body)
		if err != nil {
			return nil, err
		}
		defer b.close()
		bt = newTarget("bare", b.base, cfg.Connections)
		defer bt.rt.CloseIdleConnections()
	}
	var kgDrives, bareDrives []*drive
	var leftover []string
	for round := range rounds {
		label := func(t *target) string {
			if rounds == 1 {
				return t.name
			}
			return fmt.Sprintf("%s[%d/%d]", t.name, round+1, rounds)
		}
		d := &drive{cfg: &cfg, t: kg, label: label(kg), tokens: tokens, dur: per}
		d.run(ctx)
		kgDrives = append(kgDrives, d)
		leftover = append(leftover, d.leftover()...)
		if bt != nil {
			bd := &drive{cfg: &cfg, t: bt, label: label(bt), tokens: tokens, dur: per}
			bd.run(ctx)
			bareDrives = append(bareDrives, bd)
		}
		if ctx.Err() != nil {
			break
		}
	}
	rep.Keygate = result(kgDrives)
	rep.Cleanup = kg.revokeAll(ctx, cfg.Connections, leftover)
	if bt != nil {
		r := result(bareDrives)
		rep.Bare = &r
		if r.Throughput > 0 {
			rep.Ratio = rep.Keygate.Throughput / r.Throughput
		}
	}
	return rep, nil
}

func (c *Config) mode() string {
	switch {
	case c.Once:
		return "first-use"
	case c.Mix == VerifyOnly():
		return "verify"
	}
	return "mix"
}

// target is one server the load is sent to.
type target struct {
	name string
	base string
	// path is what a verify requests (pathUser on Keygate itself).
	path string
	rt   *http.Transport
}

func newTarget(name, base string, conns int) *target {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: loopbackOnly}
	return &target{name: name, base: base, path: pathUser, rt: &http.Transport{
		Proxy:                 nil, // never through a proxy: the dialer must see the real address
		DialContext:           dialer.DialContext,
		MaxConnsPerHost:       conns,
		MaxIdleConnsPerHost:   conns,
		MaxIdleConns:          conns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: requestTimeout,
		DisableCompression:    true,
	}}
}

func (t *target) newRequest(ctx context.Context, method, path, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.base+path, rd)
	if err != nil {
		panic(err) // base was checked and path is a constant
	}
	if body != "" {
		req.Header["Content-Type"] = []string{"application/json"}
	}
	req.Header["Private-Token"] = []string{""}
	return req
}

// probe fetches /api/v4/user once; its body is what the bare handler will answer.
func (t *target) probe(ctx context.Context, tok string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req := t.newRequest(ctx, http.MethodGet, pathUser, "")
	req.Header["Private-Token"][0] = tok
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("loadtest: probe GET %s: %w", pathUser, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("loadtest: probe GET %s: %w", pathUser, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("loadtest: probe GET %s with the first token answered %d %s (is it a token of this server, with read_user or api?)",
			pathUser, resp.StatusCode, snippet(body))
	}
	return body, nil
}

// revokeAll revokes tokens (unmeasured clean-up) and returns how many it revoked and
// how many failed.
func (t *target) revokeAll(ctx context.Context, conns int, tokens []string) *Cleanup {
	if len(tokens) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout+time.Duration(len(tokens))*10*time.Millisecond)
	defer cancel()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range min(conns, len(tokens)) {
		wg.Go(func() {
			req := t.newRequest(ctx, http.MethodDelete, pathSelf, "")
			for {
				i := next.Add(1) - 1
				if i >= int64(len(tokens)) || ctx.Err() != nil {
					return
				}
				req.Header["Private-Token"][0] = tokens[i]
				if st, _, err := t.do(req, http.StatusNoContent, false); err != nil || st != http.StatusNoContent {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	f := int(failed.Load())
	return &Cleanup{Revoked: len(tokens) - f, Failed: f}
}

// do sends req and drains the answer. With keep, or when the status is not want, it
// returns up to 64 KiB of the body (creates need the new token; errors their message).
func (t *target) do(req *http.Request, want int, keep bool) (int, []byte, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return 0, nil, err
	}
	var body []byte
	if keep || resp.StatusCode != want {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	}
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	return resp.StatusCode, body, err
}

// drive is one target driven by Connections workers.
type drive struct {
	cfg     *Config
	t       *target
	label   string // for the progress line
	tokens  []string
	next    atomic.Int64 // first-use mode: the next token to present
	dur     time.Duration
	stop    atomic.Bool
	workers []*worker
	elapsed time.Duration
}

// worker is one connection's loop and what it measured. Only its goroutine writes the
// non-atomic fields; they are read after it ends.
type worker struct {
	hist     [numOps]Histogram
	requests atomic.Int64
	errors   atomic.Int64
	count    [numOps]int64
	errs     [numOps]int64
	statuses map[int]int64 // 0: transport error
	firstErr string
	created  []string // tokens created in the run and not yet revoked (memory only)
}

// run drives the target for d.dur.
func (d *drive) run(ctx context.Context) {
	c := d.cfg.Connections
	ctx, cancel := context.WithTimeout(ctx, d.dur+requestTimeout)
	defer cancel()
	d.workers = make([]*worker, c)
	var warm, done sync.WaitGroup
	start := make(chan struct{})
	for i := range c {
		w := &worker{statuses: map[int]int64{}}
		d.workers[i] = w
		warm.Add(1)
		done.Go(func() {
			d.warm(ctx)
			warm.Done()
			<-start
			d.loop(ctx, w, i)
		})
	}
	warm.Wait()
	began := time.Now()
	close(start)
	timer := time.AfterFunc(d.dur, func() { d.stop.Store(true) })
	defer timer.Stop()
	stopProgress := d.progress(began)
	done.Wait()
	d.elapsed = time.Since(began)
	stopProgress()
}

// warm opens the worker's connection before the clock starts (not measured).
func (d *drive) warm(ctx context.Context) {
	req := d.t.newRequest(ctx, http.MethodGet, pathHealth, "")
	delete(req.Header, "Private-Token")
	_, _, _ = d.t.do(req, http.StatusOK, false)
}

func (d *drive) loop(ctx context.Context, w *worker, i int) {
	var reqs [numOps]*http.Request
	reqs[OpVerify] = d.t.newRequest(ctx, http.MethodGet, d.t.path, "")
	reqs[OpCreate] = d.t.newRequest(ctx, http.MethodPost, pathCreate, createBody)
	reqs[OpRevoke] = d.t.newRequest(ctx, http.MethodDelete, pathSelf, "")
	sched, _ := NewScheduler(d.cfg.Mix) // validated in Run
	n, step := len(d.tokens), d.cfg.Connections
	tok := i % n
	for !d.stop.Load() && ctx.Err() == nil {
		op := sched.Next()
		if op == OpRevoke && len(w.created) == 0 {
			op = OpVerify // a failed create left nothing to revoke
		}
		req := reqs[op]
		switch op {
		case OpRevoke:
			last := len(w.created) - 1
			req.Header["Private-Token"][0] = w.created[last]
			w.created = w.created[:last]
		default:
			if d.cfg.Once {
				j := d.next.Add(1) - 1
				if j >= int64(n) {
					return
				}
				tok = int(j)
			}
			req.Header["Private-Token"][0] = d.tokens[tok]
			if !d.cfg.Once {
				tok = (tok + step) % n
			}
		}
		if op == OpCreate {
			req.Body = io.NopCloser(strings.NewReader(createBody))
		}
		began := time.Now()
		status, body, err := d.t.do(req, expected(op), op == OpCreate)
		w.hist[op].Record(time.Since(began))
		w.count[op]++
		w.requests.Add(1)
		switch {
		case err != nil:
			w.fail(op, 0, err.Error())
		case status != expected(op):
			w.fail(op, status, snippet(body))
		case op == OpCreate:
			var out struct {
				Token string `json:"token"`
			}
			if json.Unmarshal(body, &out) != nil || out.Token == "" {
				w.fail(op, status, "no token in the answer")
				break
			}
			w.created = append(w.created, out.Token)
			w.statuses[status]++
		default:
			w.statuses[status]++
		}
	}
}

func (w *worker) fail(op Op, status int, detail string) {
	w.errors.Add(1)
	w.errs[op]++
	w.statuses[status]++
	if w.firstErr == "" {
		if status == 0 {
			w.firstErr = fmt.Sprintf("%s: %s", op, detail)
		} else {
			w.firstErr = fmt.Sprintf("%s: status %d %s", op, status, detail)
		}
	}
}

// progress prints a line once a second: the last second's throughput, errors so far and
// the p99 of everything so far. It returns a function that stops it.
func (d *drive) progress(began time.Time) func() {
	if d.cfg.Progress == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var all Histogram
		var last int64
		lastAt := began
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				var reqs, errs int64
				all.Reset()
				for _, w := range d.workers {
					reqs += w.requests.Load()
					errs += w.errors.Load()
					for op := range w.hist {
						all.Merge(&w.hist[op])
					}
				}
				rate := float64(reqs-last) / now.Sub(lastAt).Seconds()
				last, lastAt = reqs, now
				fmt.Fprintf(d.cfg.Progress, "%-13s %4.0fs  %8.0f req/s  requests %d  errors %d  p99 %s\n",
					d.label, now.Sub(began).Seconds(), rate, reqs, errs, fmtDur(all.Quantile(0.99)))
			}
		}
	}()
	return func() { close(quit); <-done }
}

// leftover returns the tokens the run created and did not revoke.
func (d *drive) leftover() []string {
	var out []string
	for _, w := range d.workers {
		out = append(out, w.created...)
		w.created = nil
	}
	return out
}

// result sums the drives of one target.
func result(drives []*drive) Result {
	r := Result{Statuses: map[string]int64{}, Ops: map[string]OpResult{}}
	var elapsed time.Duration
	var workers []*worker
	for _, d := range drives {
		elapsed += d.elapsed
		workers = append(workers, d.workers...)
	}
	r.ElapsedSeconds = elapsed.Seconds()
	var all Histogram
	var perOp [numOps]Histogram
	var count, errs [numOps]int64
	for _, w := range workers {
		for op := range numOps {
			perOp[op].Merge(&w.hist[op])
			all.Merge(&w.hist[op])
			count[op] += w.count[op]
			errs[op] += w.errs[op]
		}
		for st, n := range w.statuses {
			k := strconv.Itoa(st)
			if st == 0 {
				k = "transport_error"
			}
			r.Statuses[k] += n
		}
		if r.FirstError == "" {
			r.FirstError = w.firstErr
		}
	}
	for op := range numOps {
		r.Requests += count[op]
		r.Errors += errs[op]
		if count[op] > 0 {
			r.Ops[op.String()] = OpResult{Requests: count[op], Errors: errs[op], Latency: latencyOf(&perOp[op])}
		}
	}
	if elapsed > 0 {
		r.Throughput = float64(r.Requests) / elapsed.Seconds()
	}
	r.Latency = latencyOf(&all)
	return r
}

// snippet is the start of an error body, for the report (error bodies carry messages,
// never tokens).
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// bare is the handler that answers without checking anything, in the load command's
// process or in one of its own.
type bare struct {
	base string
	stop func()
}

// bareCreated is what the bare handler answers a create: a token-shaped answer whose
// token the client will later "revoke".
const bareCreated = `{"id":1,"name":"loadtest","revoked":false,"active":true,"scopes":["k8s_proxy"],"token":"bare-handler-token"}` + "\n"

func bareHandler(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"application/json"}
		switch r.Method {
		case http.MethodPost:
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, bareCreated)
		case http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		default:
			_, _ = w.Write(body)
		}
	})
}

// serveBare serves the bare handler on l until stop is called.
func serveBare(l net.Listener, body []byte) (stop func()) {
	srv := &http.Server{Handler: bareHandler(body), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	return func() { _ = srv.Close(); <-done }
}

func startBare(body []byte) (*bare, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("loadtest: bare handler: %w", err)
	}
	return &bare{base: "http://" + l.Addr().String(), stop: serveBare(l, body)}, nil
}

func (b *bare) close() { b.stop() }

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
	"slices"
	"time"
)

// RevocationBound is the cross-node goal: a token revoked through one node is refused
// by another within this, at p99 (issue "Performance, scale and reliability evidence").
const RevocationBound = 100 * time.Millisecond

// revocationGiveUp ends the wait for one token: past it the revocation counts as missed.
const revocationGiveUp = 5 * time.Second

// RevocationConfig measures how fast a revocation through node Via reaches node Check.
type RevocationConfig struct {
	Via, Check *url.URL // base URLs (from CheckURL)
	Tokens     []string // each is spent: verified on Check, revoked through Via
	// Bound is the p99 goal; 0 means RevocationBound.
	Bound    time.Duration
	Progress io.Writer
}

// RevocationReport is the outcome; latencies are from the revoke's answer to the first
// refusal by Check.
type RevocationReport struct {
	Via         string  `json:"via"`
	Check       string  `json:"check"`
	Revocations int     `json:"revocations"`
	Missed      int     `json:"missed"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	// Requests is how many checks node Check answered before refusing, summed.
	Requests int     `json:"requests"`
	BoundMs  float64 `json:"bound_ms"`
	Meets    bool    `json:"meets_bound"`
}

// Revocation spends every token: GET /api/v4/user on Check (200: now cached there),
// DELETE /api/v4/personal_access_tokens/self through Via (204), then GET on Check until
// it answers 401.
func Revocation(ctx context.Context, cfg RevocationConfig) (RevocationReport, error) {
	if cfg.Bound <= 0 {
		cfg.Bound = RevocationBound
	}
	rep := RevocationReport{Via: cfg.Via.String(), Check: cfg.Check.String(), BoundMs: ms(cfg.Bound)}
	if len(cfg.Tokens) == 0 {
		return rep, errors.New("loadtest: no tokens to revoke")
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: loopbackOnly}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 2}}
	defer c.CloseIdleConnections()
	call := func(method string, base *url.URL, path, token string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, method, base.JoinPath(path).String(), nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("PRIVATE-TOKEN", token)
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	lat := make([]time.Duration, 0, len(cfg.Tokens))
	last := time.Now()
	for i, tok := range cfg.Tokens {
		if st, err := call("GET", cfg.Check, "/api/v4/user", tok); err != nil || st != 200 {
			return rep, fmt.Errorf("loadtest: token %d (line order) on the checking node: status %d, %v", i+1, st, err)
		}
		if st, err := call("DELETE", cfg.Via, "/api/v4/personal_access_tokens/self", tok); err != nil || st != 204 {
			return rep, fmt.Errorf("loadtest: revoking token %d through the other node: status %d, %v", i+1, st, err)
		}
		start := time.Now()
		for {
			st, err := call("GET", cfg.Check, "/api/v4/user", tok)
			if err != nil {
				return rep, fmt.Errorf("loadtest: checking node: %w", err)
			}
			rep.Requests++
			if st == 401 {
				lat = append(lat, time.Since(start))
				break
			}
			if time.Since(start) > revocationGiveUp {
				rep.Missed++
				break
			}
		}
		rep.Revocations++
		if cfg.Progress != nil && time.Since(last) >= time.Second {
			fmt.Fprintf(cfg.Progress, "\r%d/%d revocations", rep.Revocations, len(cfg.Tokens))
			last = time.Now()
		}
	}
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "\r%d/%d revocations\n", rep.Revocations, len(cfg.Tokens))
	}
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		rep.P50ms, rep.P99ms, rep.MaxMs = ms(lat[(n-1)/2]), ms(lat[(n*99+99)/100-1]), ms(lat[n-1])
	}
	rep.Meets = rep.Missed == 0 && rep.P99ms <= rep.BoundMs
	return rep, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// WriteJSON writes the report as one JSON object.
func (r RevocationReport) WriteJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(r)
}

// WriteText writes the report for people.
func (r RevocationReport) WriteText(w io.Writer) error {
	verdict := "meets"
	if !r.Meets {
		verdict = "misses"
	}
	_, err := fmt.Fprintf(w, "revoked through %s, refused by %s\n%d revocations, %d missed (not refused within %v)\n"+
		"refused after p50 %.3f ms, p99 %.3f ms, max %.3f ms (%d checks); %s the bound of %g ms at p99\n",
		r.Via, r.Check, r.Revocations, r.Missed, revocationGiveUp, r.P50ms, r.P99ms, r.MaxMs, r.Requests, verdict, r.BoundMs)
	return err
}

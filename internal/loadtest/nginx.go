package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// NginxRatioGoal is the target for nginx with Keygate's forward auth over nginx
// alone, in front of the same static upstream.
const NginxRatioGoal = 0.5

// NginxPath is what the nginx load requests; the server's gate file must let the load's
// tokens through there (docs/performance.md has one).
const NginxPath = "/loadtest/static"

// nginxStatic is the upstream's answer: small and fixed, so the upstream costs little.
const nginxStatic = `{"static":true}`

// NginxConfig is a run of nginx + Keygate against nginx alone.
type NginxConfig struct {
	Config
	// Nginx is the nginx binary.
	Nginx string
}

// nginxConf is the docs/gate.md server block (the identity headers trimmed to the user),
// twice: one server asks Keygate, the other proxies straight to the same upstream.
const nginxConf = `worker_processes auto;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path {{dir}}/body;
    proxy_temp_path {{dir}}/proxy;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;
    upstream static { server {{upstream}}; keepalive 64; }
    upstream keygate { server {{keygate}}; keepalive 64; }
    server {
        listen {{gated}};
        location / {
            auth_request /_keygate;
            auth_request_set $keygate_user $upstream_http_x_keygate_user;
            proxy_set_header X-Keygate-User $keygate_user;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://static;
        }
        location = /_keygate {
            internal;
            proxy_pass http://keygate/-/gate;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Host $host;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Real-IP $remote_addr;
        }
    }
    server {
        listen {{plain}};
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://static;
        }
    }
}
`

// RunNginx starts a static upstream and nginx with two servers in front of it, one
// asking Keygate's /-/gate on every request and one not, and drives both alike in
// alternating rounds. The Report's Keygate side is nginx + Keygate, its Bare side nginx
// alone, and Ratio their throughputs.
func RunNginx(ctx context.Context, cfg NginxConfig) (*Report, error) {
	if cfg.Mix == (Mix{}) {
		cfg.Mix = VerifyOnly()
	}
	if cfg.Once || cfg.Mix != VerifyOnly() {
		return nil, errors.New("loadtest: the nginx load is verify only")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	up, err := startBare([]byte(nginxStatic))
	if err != nil {
		return nil, err
	}
	defer up.close()
	dir, err := os.MkdirTemp("", "keygate-loadtest-nginx-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	gated, plain, err := twoPorts()
	if err != nil {
		return nil, err
	}
	stop, err := startNginx(ctx, cfg.Nginx, dir, strings.NewReplacer(
		"{{dir}}", dir, "{{upstream}}", strings.TrimPrefix(up.base, "http://"), "{{keygate}}", cfg.URL.Host,
		"{{gated}}", gated, "{{plain}}", plain,
	).Replace(nginxConf), []string{gated, plain})
	if err != nil {
		return nil, err
	}
	defer stop()

	kg := newTarget("nginx+keygate", "http://"+gated, cfg.Connections)
	kg.path = NginxPath
	defer kg.rt.CloseIdleConnections()
	bt := newTarget("nginx", "http://"+plain, cfg.Connections)
	bt.path = NginxPath
	defer bt.rt.CloseIdleConnections()
	if err := kg.probeGate(ctx, cfg.Tokens[0]); err != nil {
		return nil, err
	}
	rounds := max(cfg.Rounds, 1)
	per := cfg.Duration / time.Duration(rounds)
	var kgDrives, bareDrives []*drive
	for round := range rounds {
		for _, t := range []*target{kg, bt} {
			label := t.name
			if rounds > 1 {
				label = fmt.Sprintf("%s[%d/%d]", t.name, round+1, rounds)
			}
			d := &drive{cfg: &cfg.Config, t: t, label: label, tokens: cfg.Tokens, dur: per}
			d.run(ctx)
			if t == kg {
				kgDrives = append(kgDrives, d)
			} else {
				bareDrives = append(bareDrives, d)
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	rep := &Report{
		URL: kg.base + NginxPath, Mode: "nginx-gate", Tokens: len(cfg.Tokens), Connections: cfg.Connections,
		DurationSeconds: cfg.Duration.Seconds(), Rounds: rounds, Mix: cfg.Mix, RatioGoal: NginxRatioGoal,
		Keygate: result(kgDrives), names: [2]string{kg.name, bt.name},
	}
	r := result(bareDrives)
	rep.Bare = &r
	if r.Throughput > 0 {
		rep.Ratio = rep.Keygate.Throughput / r.Throughput
	}
	return rep, nil
}

// probeGate sends one gated request: it must reach the upstream.
func (t *target) probeGate(ctx context.Context, tok string) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req := t.newRequest(ctx, http.MethodGet, t.path, "")
	req.Header["Private-Token"][0] = tok
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("loadtest: probe through nginx: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || string(body) != nginxStatic {
		return fmt.Errorf("loadtest: probe GET %s through nginx and Keygate answered %d %s (does the server's gate file let the tokens through on %s?)",
			NginxPath, resp.StatusCode, snippet(body), NginxPath)
	}
	return nil
}

func twoPorts() (string, string, error) {
	var addrs [2]string
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", "", fmt.Errorf("loadtest: a port for nginx: %w", err)
		}
		addrs[i] = l.Addr().String()
		l.Close()
	}
	return addrs[0], addrs[1], nil
}

// startNginx runs nginx in the foreground on conf until stop, waiting until it listens.
func startNginx(ctx context.Context, bin, dir, conf string, addrs []string) (stop func(), err error) {
	if bin == "" {
		bin = "nginx"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/" + bin); serr != nil {
			return nil, fmt.Errorf("loadtest: nginx not found (--nginx): %w", err)
		}
		path = "/usr/sbin/" + bin
	}
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	logFile := filepath.Join(dir, "error.log")
	cmd := exec.CommandContext(ctx, path, "-p", dir, "-c", file, "-e", logFile, "-g", "daemon off;")
	// Interrupted: a fast shutdown, in which nginx's master stops its workers (a SIGKILL
	// would orphan them).
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadtest: start nginx: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, a := range addrs {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-exited:
				log, _ := os.ReadFile(logFile)
				return nil, fmt.Errorf("loadtest: nginx exited (%v): %s", err, snippet(log))
			default:
			}
			if time.Now().After(deadline) {
				stop()
				return nil, errors.New("loadtest: nginx did not listen within 10 s")
			}
			time.Sleep(10 * time.Millisecond) // waiting for a real process to listen
		}
	}
	return stop, nil
}

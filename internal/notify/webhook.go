package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/keygate/keygate/internal/service"
)

// Webhooks posts webhook calls as GitLab does: JSON, X-Gitlab-Event, X-Gitlab-Token,
// no redirects followed.
type Webhooks struct {
	// UserAgent is sent as User-Agent ("GitLab/<version>" by default).
	UserAgent string
	// InstanceURL is sent as X-Gitlab-Instance.
	InstanceURL string
	// Timeout bounds one call; 0 means 10 s.
	Timeout time.Duration
}

// errLocalAddress refuses a connection to a local address when local requests are not
// allowed: checked on the address actually dialed, so DNS cannot slip one in later.
var errLocalAddress = errors.New("webhook: requests to the local network are not allowed")

// Post makes one call and answers the receiver's status.
func (h *Webhooks) Post(ctx context.Context, r service.HookRequest) (int, error) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	dialer := &net.Dialer{Timeout: timeout}
	if !r.AllowLocal {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || service.IsLocalAddress(ap.Addr()) {
				return errLocalAddress
			}
			return nil
		}
	}
	tr := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: r.SkipTLSVerify}, //nolint:gosec // the hook's enable_ssl_verification=false
		TLSHandshakeTimeout: timeout,
		DisableKeepAlives:   true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return 0, err
	}
	ua := h.UserAgent
	if ua == "" {
		ua = "GitLab/keygate"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", ua)
	req.Header.Set("X-Gitlab-Event", r.Event)
	req.Header.Set("X-Gitlab-Event-UUID", newUUID())
	if h.InstanceURL != "" {
		req.Header.Set("X-Gitlab-Instance", h.InstanceURL)
	}
	if r.SecretToken != "" {
		req.Header.Set("X-Gitlab-Token", r.SecretToken)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

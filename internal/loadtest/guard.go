package loadtest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrNotLoopback refuses a target that is not on this machine's loopback interface.
var ErrNotLoopback = errors.New("loadtest: only loopback addresses (127.0.0.0/8, ::1, localhost) may be loaded")

// CheckURL parses a base URL and accepts it only when it is http or https on a loopback
// address: a literal loopback IP or "localhost". The dialer checks the resolved address
// again (see loopbackOnly), so a "localhost" that resolves elsewhere is refused too.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("loadtest: --url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("loadtest: --url %q: want http:// or https://", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("loadtest: --url %q: want scheme, host, port and at most a path", raw)
	}
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf("loadtest: --url %q: no host", raw)
	}
	if !loopbackHost(host) {
		return nil, fmt.Errorf("%w: %q", ErrNotLoopback, host)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// loopbackOnly is a net.Dialer Control function: it runs on the address about to be
// connected, after name resolution, and refuses any that is not loopback.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Unmap().IsLoopback() {
		return fmt.Errorf("%w: dialing %s", ErrNotLoopback, address)
	}
	return nil
}

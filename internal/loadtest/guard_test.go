package loadtest

import (
	"errors"
	"testing"
)

func TestCheckURL(t *testing.T) {
	cases := []struct {
		in, want string
		loopErr  bool // ErrNotLoopback rather than another refusal
		ok       bool
	}{
		{in: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080", ok: true},
		{in: "http://127.0.0.1:8080/", want: "http://127.0.0.1:8080", ok: true},
		{in: "http://127.1.2.3:1/prefix/", want: "http://127.1.2.3:1/prefix", ok: true},
		{in: "http://localhost:8080", want: "http://localhost:8080", ok: true},
		{in: "https://LOCALHOST", want: "https://LOCALHOST", ok: true},
		{in: "http://[::1]:8080", want: "http://[::1]:8080", ok: true},
		{in: "http://[::ffff:127.0.0.1]:80", want: "http://[::ffff:127.0.0.1]:80", ok: true},
		{in: "http://10.0.0.1:8080", loopErr: true},
		{in: "http://0.0.0.0:8080", loopErr: true},
		{in: "http://gitlab.com", loopErr: true},
		{in: "http://localhost.evil.example", loopErr: true},
		{in: "http://127.0.0.1.nip.io", loopErr: true},
		{in: "http://[::]:8080", loopErr: true},
		{in: "ftp://127.0.0.1"},
		{in: "127.0.0.1:8080"},
		{in: "http://user:pw@127.0.0.1"},
		{in: "http://127.0.0.1/?x=1"},
		{in: "http:///path"},
		{in: "http://%zz"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			u, err := CheckURL(c.in)
			if c.ok {
				if err != nil || u.String() != c.want {
					t.Fatalf("CheckURL(%q) = %v, %v, want %s", c.in, u, err, c.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckURL(%q) = %v, want an error", c.in, u)
			}
			if got := errors.Is(err, ErrNotLoopback); got != c.loopErr {
				t.Errorf("CheckURL(%q) = %v; ErrNotLoopback %v, want %v", c.in, err, got, c.loopErr)
			}
		})
	}
}

func TestLoopbackOnly(t *testing.T) {
	cases := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"127.255.0.1:1", true},
		{"[::1]:443", true},
		{"[::ffff:127.0.0.1]:80", true},
		{"192.168.1.1:8080", false},
		{"[2001:db8::1]:80", false},
		{"[::]:80", false},
		{"localhost:80", false}, // the dialer sees resolved addresses only
		{"nonsense", false},
	}
	for _, c := range cases {
		err := loopbackOnly("tcp", c.addr, nil)
		if (err == nil) != c.ok {
			t.Errorf("loopbackOnly(%q) = %v, want ok %v", c.addr, err, c.ok)
		}
	}
}

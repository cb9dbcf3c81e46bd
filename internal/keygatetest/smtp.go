package keygatetest

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one mail the test SMTP server accepted.
type Message struct {
	From string
	To   []string
	Data string // the raw message, headers and body
	TLS  bool   // delivered after STARTTLS
}

// SMTPServer is a real SMTP server on 127.0.0.1:0 that keeps what it receives.
type SMTPServer struct {
	Addr     string
	mu       sync.Mutex
	msgs     []Message
	failNext int
	arrived  chan struct{}
}

// NewSMTP starts a test SMTP server, with STARTTLS when tlsConf is not nil; t.Cleanup
// stops it.
func NewSMTP(t testing.TB, tlsConf *tls.Config) *SMTPServer {
	t.Helper()
	s := &SMTPServer{arrived: make(chan struct{}, 1)}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.TLSConfig = tlsConf
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// URL is the server as --smtp-url takes it.
func (s *SMTPServer) URL() string { return "smtp://" + s.Addr + "?from=keygate@keygate.test" }

// FailNext makes the next n deliveries fail temporarily.
func (s *SMTPServer) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Arrived is signalled after messages arrive (one signal may stand for several), for
// tests that wait on a server's own scheduler.
func (s *SMTPServer) Arrived() <-chan struct{} { return s.arrived }

// Messages returns what arrived so far.
func (s *SMTPServer) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

type backend struct{ s *SMTPServer }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, conn: c}, nil
}

type session struct {
	s    *SMTPServer
	conn *smtp.Conn
	from string
	to   []string
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	if x.s.failNext > 0 {
		x.s.failNext--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	_, isTLS := x.conn.TLSConnectionState()
	x.s.msgs = append(x.s.msgs, Message{From: x.from, To: x.to, Data: buf.String(), TLS: isTLS})
	select {
	case x.s.arrived <- struct{}{}:
	default:
	}
	return nil
}

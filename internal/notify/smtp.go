package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/service"
)

// SMTP sends mail through one SMTP server.
type SMTP struct {
	addr     string // host:port
	host     string
	from     mail.Address
	username string
	password string
	implicit bool // smtps://: TLS from the first byte
	// TLS configures STARTTLS and smtps; nil verifies against the system roots.
	TLS *tls.Config
	// Timeout bounds one delivery (dial to QUIT); 0 means 30 s.
	Timeout time.Duration
}

// ParseSMTPURL reads --smtp-url: smtp://[user:pass@]host[:port][?from=addr] (port 25 by
// default; STARTTLS when the server offers it) or smtps:// (implicit TLS, port 465).
// fallbackFrom is the sender when the URL names none.
func ParseSMTPURL(raw, fallbackFrom string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("smtp url: %w", err)
	}
	s := &SMTP{}
	switch u.Scheme {
	case "smtp":
	case "smtps":
		s.implicit = true
	default:
		return nil, fmt.Errorf("smtp url: scheme %q, want smtp or smtps", u.Scheme)
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("smtp url: no host")
	}
	port := u.Port()
	if port == "" {
		port = "25"
		if s.implicit {
			port = "465"
		}
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		s.username = u.User.Username()
		s.password, _ = u.User.Password()
	}
	from := u.Query().Get("from")
	if from == "" {
		from = fallbackFrom
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("smtp url: sender %q: %w", from, err)
	}
	s.from = *a
	return s, nil
}

// Send delivers m, or returns why it could not (the outbox retries).
func (s *SMTP) Send(ctx context.Context, m service.Mail) error {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	tlsConf := s.tlsConfig()
	if s.implicit {
		conn = tls.Client(conn, tlsConf)
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello(helloName(s.from.Address)); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok && !s.implicit {
		if err := c.StartTLS(tlsConf); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if s.username != "" {
		if ok, _ := c.Extension("AUTH"); ok {
			if err := c.Auth(smtp.PlainAuth("", s.username, s.password, s.host)); err != nil {
				return fmt.Errorf("auth: %w", err)
			}
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return err
	}
	if err := c.Rcpt(m.To); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(Compose(s.from, m, time.Now())); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func (s *SMTP) tlsConfig() *tls.Config {
	if s.TLS != nil {
		c := s.TLS.Clone()
		if c.ServerName == "" {
			c.ServerName = s.host
		}
		return c
	}
	return &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
}

// helloName is the EHLO name: the sender's domain.
func helloName(from string) string {
	if _, d, ok := strings.Cut(from, "@"); ok && d != "" {
		return d
	}
	return "localhost"
}

// Compose renders m as a MIME message with plain-text and HTML alternatives.
func Compose(from mail.Address, m service.Mail, now time.Time) []byte {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	boundary := "keygate-" + hex.EncodeToString(rnd[:])
	var b strings.Builder
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from.String())
	hdr("To", m.To)
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	hdr("Date", now.UTC().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hex.EncodeToString(rnd[:])+"@"+helloName(from.Address)+">")
	hdr("MIME-Version", "1.0")
	hdr("Auto-Submitted", "auto-generated")
	hdr("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	part := func(ctype, body string) {
		b.WriteString("--" + boundary + "\r\n")
		hdr("Content-Type", ctype+"; charset=utf-8")
		hdr("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		qp := quotedprintable.NewWriter(&b) // it writes CRLF line ends itself
		_, _ = qp.Write([]byte(body))
		_ = qp.Close()
		b.WriteString("\r\n")
	}
	part("text/plain", m.Text)
	part("text/html", m.HTML)
	b.WriteString("--" + boundary + "--\r\n")
	return []byte(b.String())
}

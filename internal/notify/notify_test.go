package notify_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygatetest"
	"github.com/keygate/keygate/internal/notify"
	"github.com/keygate/keygate/internal/service"
)

// selfSigned returns a server config for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	ss := keygatetest.NewSelfSigned(t)
	return ss.Config, ss.Pool
}

func TestParseSMTPURL(t *testing.T) {
	cases := []struct {
		in      string
		wantErr bool
	}{
		{"smtp://mail.example.com", false},
		{"smtp://u:p@mail.example.com:587?from=ops@example.com", false},
		{"smtps://mail.example.com", false},
		{"http://mail.example.com", true},
		{"smtp://", true},
		{"smtp://mail.example.com?from=not-an-address", true},
	}
	for _, c := range cases {
		_, err := notify.ParseSMTPURL(c.in, "Keygate <k@example.com>")
		if (err != nil) != c.wantErr {
			t.Errorf("ParseSMTPURL(%q) error = %v, want error %v", c.in, err, c.wantErr)
		}
	}
}

func TestSMTPStartTLS(t *testing.T) {
	srvTLS, pool := selfSigned(t)
	srv := keygatetest.NewSMTP(t, srvTLS)
	m, err := notify.ParseSMTPURL(srv.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	m.TLS = &tls.Config{RootCAs: pool}
	err = m.Send(t.Context(), service.Mail{To: "alice@example.com", Subject: "Your token will expire",
		Text: "Name: ci\nScopes: api\n", HTML: "<p>Name: ci</p>"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if !got.TLS {
		t.Error("delivered without STARTTLS although the server offered it")
	}
	if got.From != "keygate@keygate.test" || len(got.To) != 1 || got.To[0] != "alice@example.com" {
		t.Errorf("envelope = %s → %v", got.From, got.To)
	}
	msg, err := mail.ReadMessage(strings.NewReader(got.Data))
	if err != nil {
		t.Fatal(err)
	}
	if ct := msg.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
		t.Errorf("Content-Type = %q, want multipart/alternative", ct)
	}
	body, _ := io.ReadAll(msg.Body)
	for _, want := range []string{"text/plain", "text/html", "Name: ci", "<p>Name: ci</p>"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q", want)
		}
	}
}

func TestSMTPRefusedTLSIsAnError(t *testing.T) {
	srvTLS, _ := selfSigned(t)
	srv := keygatetest.NewSMTP(t, srvTLS)
	m, _ := notify.ParseSMTPURL(srv.URL(), "")
	// The default config verifies against the system roots: the self-signed server fails.
	if err := m.Send(t.Context(), service.Mail{To: "a@example.com", Subject: "s", Text: "t", HTML: "h"}); err == nil {
		t.Fatal("Send to an untrusted STARTTLS server succeeded, want an error")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages delivered over an unverified connection", n)
	}
}

func TestWebhookHeadersAndLocalRefusal(t *testing.T) {
	var got *http.Request
	var body string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, body = r, string(b)
		w.WriteHeader(200)
	}))
	t.Cleanup(recv.Close)
	h := &notify.Webhooks{UserAgent: "GitLab/19.6.0-keygate", InstanceURL: "http://keygate.test"}
	req := service.HookRequest{URL: recv.URL + "/hook", SecretToken: "s3cret", Event: service.HookEventAccessToken, Body: []byte(`{"object_kind":"access_token"}`)}
	if _, err := h.Post(t.Context(), req); err == nil {
		t.Fatal("Post to 127.0.0.1 without AllowLocal succeeded, want a refusal at dial time")
	}
	if got != nil {
		t.Fatal("the receiver was reached although local requests are not allowed")
	}
	req.AllowLocal = true
	status, err := h.Post(t.Context(), req)
	if err != nil || status != 200 {
		t.Fatalf("Post = %d, %v", status, err)
	}
	for k, want := range map[string]string{
		"X-Gitlab-Event": "Resource Access Token Hook", "X-Gitlab-Token": "s3cret",
		"Content-Type": "application/json", "User-Agent": "GitLab/19.6.0-keygate", "X-Gitlab-Instance": "http://keygate.test",
	} {
		if v := got.Header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	if got.Header.Get("X-Gitlab-Event-UUID") == "" || body != `{"object_kind":"access_token"}` {
		t.Errorf("uuid %q body %q", got.Header.Get("X-Gitlab-Event-UUID"), body)
	}
}

func FuzzParseSMTPURL(f *testing.F) {
	for _, s := range []string{"smtp://mail.example.com", "smtp://u:p@mail.example.com:587?from=ops@example.com",
		"smtps://mail.example.com", "http://x", "smtp://", "smtp://h?from=%zz", "smtp://[::1]:25"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := notify.ParseSMTPURL(s, "Keygate <k@example.com>")
		if err == nil && m == nil {
			t.Fatalf("ParseSMTPURL(%q) = nil, nil", s)
		}
	})
}

package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygatetest"
)

// receiver is a real HTTP server that records webhook calls and answers statuses in
// turn (200 once the list runs out).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	calls    []receivedCall
	statuses []int
}

type receivedCall struct {
	Header http.Header
	Body   map[string]any
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	rc := &receiver{statuses: statuses}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		rc.mu.Lock()
		rc.calls = append(rc.calls, receivedCall{Header: r.Header.Clone(), Body: body})
		st := 200
		if len(rc.statuses) > 0 {
			st, rc.statuses = rc.statuses[0], rc.statuses[1:]
		}
		rc.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) received() []receivedCall {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receivedCall(nil), rc.calls...)
}

// parsedMail is a received message's subject, recipients and text and HTML parts.
type parsedMail struct {
	To      []string
	Subject string
	Text    string
	HTML    string
}

func parseMail(t *testing.T, m keygatetest.Message) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	out := parsedMail{To: m.To, Subject: subj}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p) // quoted-printable is decoded by the multipart reader
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			out.HTML = string(b)
		} else {
			out.Text = string(b)
		}
	}
	return out
}

// mailsAbout returns the received mails whose subject contains s and, with names,
// whose text names one of those tokens ("Name: n").
func mailsAbout(t *testing.T, smtp *keygatetest.SMTPServer, s string, names ...string) []parsedMail {
	var out []parsedMail
	for _, m := range smtp.Messages() {
		pm := parseMail(t, m)
		if !strings.Contains(pm.Subject, s) {
			continue
		}
		named := len(names) == 0
		for _, n := range names {
			named = named || strings.Contains(pm.Text, "Name: "+n+"\r\n") || strings.Contains(pm.Text, "Name: "+n+"\n")
		}
		if named {
			out = append(out, pm)
		}
	}
	return out
}

func recipients(ms []parsedMail) string {
	var rs []string
	for _, m := range ms {
		rs = append(rs, m.To...)
	}
	return strings.Join(rs, ",")
}

type noticeWorld struct {
	srv                   *keygatetest.Server
	smtp                  *keygatetest.SMTPServer
	hooks                 *receiver
	aliceTok              string
	projectID, hookID     int64
	pat, projectTok, impT tokenBody
}

// newNoticeWorld: alice owns project alice/app (bob Maintainer, dev Developer) with a
// webhook on resource-token events; alice has a PAT expiring in 45 days, the project
// a token expiring in 7, alice an impersonation token expiring in 5. Clock: 2026-06-15.
func newNoticeWorld(t *testing.T, hookStatuses ...int) noticeWorld {
	t.Helper()
	smtp := keygatetest.NewSMTP(t, nil)
	srv := keygatetest.NewServerWith(t, keygatetest.Options{SMTPURL: smtp.URL()})
	w := noticeWorld{srv: srv, smtp: smtp, hooks: newReceiver(t, hookStatuses...)}
	alice := srv.User(t, "alice", false)
	bob := srv.User(t, "bob", false)
	dev := srv.User(t, "dev", false)
	w.aliceTok = srv.Token(t, alice.ID, "setup", "api")
	var p struct {
		ID int64 `json:"id"`
	}
	hitJSON(t, srv, "POST", "/projects", w.aliceTok, `{"name":"app"}`, 201, &p)
	w.projectID = p.ID
	for _, m := range []struct {
		id    int64
		level int
	}{{bob.ID, 40}, {dev.ID, 30}} {
		hitJSON(t, srv, "POST", fmt.Sprintf("/projects/%d/members", p.ID), w.aliceTok, fmt.Sprintf(`{"user_id":%d,"access_level":%d}`, m.id, m.level), 201, nil)
	}
	hitJSON(t, srv, "PUT", "/application/settings", srv.RootToken, `{"allow_local_requests_from_web_hooks_and_services":true}`, 200, nil)
	var h struct {
		ID int64 `json:"id"`
	}
	hitJSON(t, srv, "POST", fmt.Sprintf("/projects/%d/hooks", p.ID), w.aliceTok,
		fmt.Sprintf(`{"url":%q,"token":"hook-secret","resource_access_token_events":true,"push_events":false}`, w.hooks.URL+"/hook"), 201, &h)
	w.hookID = h.ID
	hitJSON(t, srv, "POST", fmt.Sprintf("/users/%d/personal_access_tokens", alice.ID), srv.RootToken,
		`{"name":"laptop","scopes":["api","read_user"],"expires_at":"2026-07-30"}`, 201, &w.pat)
	hitJSON(t, srv, "POST", fmt.Sprintf("/projects/%d/access_tokens", p.ID), w.aliceTok,
		`{"name":"deploy","scopes":["read_api"],"access_level":30,"expires_at":"2026-06-22"}`, 201, &w.projectTok)
	hitJSON(t, srv, "POST", fmt.Sprintf("/users/%d/impersonation_tokens", alice.ID), srv.RootToken,
		`{"name":"imp","scopes":["api"],"expires_at":"2026-06-20"}`, 201, &w.impT)
	return w
}

func (w noticeWorld) run(t *testing.T) {
	t.Helper()
	if _, err := w.srv.Service.RunLifecycle(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestExpiryNotices drives the notices through the test clock against a real SMTP server
// and a real HTTP receiver: thresholds, recipients, bodies, once only, the expiry day.
func TestExpiryNotices(t *testing.T) {
	w := newNoticeWorld(t)
	srv := w.srv
	// Creation mails went out already (to the owner; to the project's Maintainers+).
	w.run(t)
	if got := recipients(mailsAbout(t, w.smtp, "A new project access token has been created")); got != "alice@example.com,bob@example.com" && got != "bob@example.com,alice@example.com" {
		t.Errorf("project token creation mailed to %q, want alice and bob", got)
	}
	if got := recipients(mailsAbout(t, w.smtp, "A new personal access token has been created")); !strings.Contains(got, "alice@example.com") {
		t.Errorf("PAT creation mailed to %q", got)
	}
	if n := len(mailsAbout(t, w.smtp, "impersonation")); n != 0 {
		t.Errorf("%d mails about the impersonation token, want none", n)
	}

	pat := mailsAbout(t, w.smtp, "personal access token will expire in 60 days")
	if len(pat) != 1 || pat[0].To[0] != "alice@example.com" {
		t.Fatalf("60-day PAT mails = %+v, want one to alice", pat)
	}
	for _, want := range []string{"laptop", "api, read_user", "2026-07-30", "http://keygate.test/-/user_settings/personal_access_tokens"} {
		if !strings.Contains(pat[0].Text, want) || !strings.Contains(pat[0].HTML, want) {
			t.Errorf("60-day mail lacks %q in both parts:\n%s\n%s", want, pat[0].Text, pat[0].HTML)
		}
	}
	seven := mailsAbout(t, w.smtp, "project access token will expire in 7 days")
	if got := recipients(seven); len(seven) != 2 || !strings.Contains(got, "alice@") || !strings.Contains(got, "bob@") || strings.Contains(got, "dev@") {
		t.Errorf("7-day project token mails to %q, want alice and bob (Owner, Maintainer), not the Developer", got)
	}
	if len(seven) > 0 && !strings.Contains(seven[0].Text, "http://keygate.test/alice/app/-/settings/access_tokens") {
		t.Errorf("project mail lacks the project's rotate link:\n%s", seven[0].Text)
	}
	if n := len(mailsAbout(t, w.smtp, "in 30 days", "laptop", "deploy")); n != 0 {
		t.Errorf("%d 30-day mails for tokens with 45 and 7 days left, want none (nearest only)", n)
	}
	for _, m := range w.smtp.Messages() {
		for _, tok := range []string{w.pat.Token, w.projectTok.Token, w.impT.Token} {
			if strings.Contains(m.Data, tok) {
				t.Fatal("a mail carries a token")
			}
		}
	}
	calls := w.hooks.received()
	if len(calls) != 1 {
		t.Fatalf("webhook calls = %d, want 1 (the 7-day notice)", len(calls))
	}
	c := calls[0]
	if c.Header.Get("X-Gitlab-Event") != "Resource Access Token Hook" || c.Header.Get("X-Gitlab-Token") != "hook-secret" {
		t.Errorf("webhook headers = %v", c.Header)
	}
	attrs, _ := c.Body["object_attributes"].(map[string]any)
	proj, _ := c.Body["project"].(map[string]any)
	if c.Body["object_kind"] != "access_token" || c.Body["event_name"] != "expiring_access_token" ||
		attrs["name"] != "deploy" || attrs["expires_at"] != "2026-06-22" || attrs["id"] != float64(w.projectTok.ID) ||
		proj["path_with_namespace"] != "alice/app" || proj["id"] != float64(w.projectID) {
		t.Errorf("webhook payload = %v", c.Body)
	}
	if ca, _ := attrs["created_at"].(string); !strings.HasSuffix(ca, " UTC") {
		t.Errorf("created_at = %q, want GitLab's '2006-01-02 15:04:05 UTC'", ca)
	}

	// Again the same day, and after a restart-like second pass: nothing new.
	before := len(w.smtp.Messages())
	w.run(t)
	w.run(t)
	if after := len(w.smtp.Messages()); after != before || len(w.hooks.received()) != 1 {
		t.Errorf("second pass sent %d more mails, %d more webhooks", after-before, len(w.hooks.received())-1)
	}

	// The expiry day of the project token: an "expired" mail and audit event, no webhook.
	srv.Clock.Set(time.Date(2026, 6, 22, 9, 0, 0, 0, time.UTC))
	w.run(t)
	if exp := mailsAbout(t, w.smtp, "project access token has expired"); len(exp) != 2 {
		t.Errorf("expiry-day mails = %d, want 2", len(exp))
	}
	if len(w.hooks.received()) != 1 {
		t.Errorf("a webhook on the expiry day, want none (GitLab has none)")
	}
	if ev := findEvent(events(t, srv, fmt.Sprintf("/projects/%d/audit_events", w.projectID), w.aliceTok), "token_expired", w.projectTok.ID); ev == nil || ev.Details.TokenFingerprint == nil {
		t.Errorf("token_expired event = %+v, want one with the fingerprint", ev)
	}
	// 29 days before the PAT's expiry: the 30-day notice, once.
	srv.Clock.Set(time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC))
	w.run(t)
	w.run(t)
	if n := len(mailsAbout(t, w.smtp, "personal access token will expire in 30 days", "laptop")); n != 1 {
		t.Errorf("30-day PAT mails = %d, want 1", n)
	}
	// Deliveries are visible through the API.
	var ds []struct {
		Event          string  `json:"event"`
		Attempts       int     `json:"attempts"`
		ResponseStatus *int    `json:"response_status"`
		DeliveredAt    *string `json:"delivered_at"`
	}
	hitJSON(t, srv, "GET", fmt.Sprintf("/projects/%d/hooks/%d/keygate/deliveries", w.projectID, w.hookID), w.aliceTok, "", 200, &ds)
	if len(ds) != 1 || ds[0].Event != "expiring_access_token" || ds[0].Attempts != 1 || ds[0].ResponseStatus == nil || *ds[0].ResponseStatus != 200 || ds[0].DeliveredAt == nil {
		t.Errorf("deliveries = %+v", ds)
	}
}

// TestNearestNoticeOnly: a token first seen with 5 days left gets the 7-day notice and
// never the 30- or 60-day ones, even as later passes run.
func TestNearestNoticeOnly(t *testing.T) {
	smtp := keygatetest.NewSMTP(t, nil)
	srv := keygatetest.NewServerWith(t, keygatetest.Options{SMTPURL: smtp.URL()})
	carol := srv.User(t, "carol", false)
	hitJSON(t, srv, "POST", fmt.Sprintf("/users/%d/personal_access_tokens", carol.ID), srv.RootToken,
		`{"name":"short","scopes":["api"],"expires_at":"2026-06-20"}`, 201, nil)
	for day := 15; day <= 20; day++ {
		srv.Clock.Set(time.Date(2026, 6, day, 3, 0, 0, 0, time.UTC))
		if _, err := srv.Service.RunLifecycle(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		subject string
		want    int
	}{{"in 60 days", 0}, {"in 30 days", 0}, {"in 7 days", 1}, {"has expired", 1}} {
		if n := len(mailsAbout(t, smtp, c.subject, "short")); n != c.want {
			t.Errorf("mails %q = %d, want %d", c.subject, n, c.want)
		}
	}
}

// TestDeliveryRetries: a failed send is kept and retried with backoff on the service
// clock, for mails and webhooks alike, until it goes through.
func TestDeliveryRetries(t *testing.T) {
	w := newNoticeWorld(t, 500)
	w.smtp.FailNext(100) // every mail fails for now
	w.run(t)
	if n := len(w.smtp.Messages()); n != 0 {
		t.Fatalf("%d mails delivered while the server refused them", n)
	}
	var ds []struct {
		Attempts       int     `json:"attempts"`
		ResponseStatus *int    `json:"response_status"`
		LastError      *string `json:"last_error"`
		NextAttemptAt  *string `json:"next_attempt_at"`
	}
	hitJSON(t, w.srv, "GET", fmt.Sprintf("/projects/%d/hooks/%d/keygate/deliveries", w.projectID, w.hookID), w.aliceTok, "", 200, &ds)
	if len(ds) != 1 || ds[0].Attempts != 1 || *ds[0].ResponseStatus != 500 || ds[0].NextAttemptAt == nil || ds[0].LastError == nil {
		t.Fatalf("failed delivery = %+v", ds)
	}
	// Not due yet: nothing is retried before the backoff.
	w.smtp.FailNext(0)
	if _, err := w.srv.Service.DeliverDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(w.smtp.Messages()); n != 0 {
		t.Fatalf("%d mails retried before their backoff", n)
	}
	w.srv.Clock.Advance(61 * time.Second)
	if _, err := w.srv.Service.DeliverDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(mailsAbout(t, w.smtp, "will expire in", "laptop", "deploy")); n != 3 {
		t.Errorf("expiry mails after the retry = %d, want 3 (alice's PAT; alice and bob for the project token)", n)
	}
	if calls := w.hooks.received(); len(calls) != 2 {
		t.Errorf("webhook calls = %d, want 2 (a 500, then the retry)", len(calls))
	}
	hitJSON(t, w.srv, "GET", fmt.Sprintf("/projects/%d/hooks/%d/keygate/deliveries", w.projectID, w.hookID), w.aliceTok, "", 200, &ds)
	if len(ds) != 1 || ds[0].Attempts != 2 || *ds[0].ResponseStatus != 200 || ds[0].NextAttemptAt != nil {
		t.Errorf("delivery after the retry = %+v", ds)
	}
}

// TestNoticesWithoutSMTP: without SMTP, notices go to the log and to the user's in-app
// list, and only to their own.
func TestNoticesWithoutSMTP(t *testing.T) {
	srv := keygatetest.NewServer(t)
	dora := srv.User(t, "dora", false)
	eve := srv.User(t, "eve", false)
	doraTok := srv.Token(t, dora.ID, "dora", "read_user")
	eveTok := srv.Token(t, eve.ID, "eve", "read_user")
	srv.Clock.Set(time.Date(2026, 7, 8, 9, 0, 0, 0, time.UTC)) // both expire 2026-07-15
	if _, err := srv.Service.RunLifecycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	var ns []struct {
		Event       string  `json:"event"`
		Subject     string  `json:"subject"`
		Body        string  `json:"body"`
		DeliveredAt *string `json:"delivered_at"`
	}
	hitJSON(t, srv, "GET", "/keygate/notifications", doraTok, "", 200, &ns)
	if len(ns) != 2 || ns[0].Event != "token_expiring_7d" || !strings.Contains(ns[0].Body, "dora") || ns[0].DeliveredAt == nil {
		t.Fatalf("dora's notices = %+v, want the 7-day notice then the creation notice", ns)
	}
	for _, n := range ns {
		if strings.Contains(n.Body, "eve") {
			t.Error("dora sees eve's notice")
		}
	}
	if !strings.Contains(srv.Logs(), "no SMTP configured") {
		t.Error("notice not logged")
	}
	if strings.Contains(srv.Logs(), doraTok) || strings.Contains(srv.Logs(), eveTok) {
		t.Fatal("a token reached the log")
	}
}

// TestExtendedExpiryWebhooks: group token webhooks fire at 30 and 60 days only with the
// group's extended_grat_expiry_webhooks_execute on.
func TestExtendedExpiryWebhooks(t *testing.T) {
	srv := keygatetest.NewServer(t)
	hooks := newReceiver(t)
	owner := srv.User(t, "olga", false)
	tok := srv.Token(t, owner.ID, "o", "api")
	var g struct {
		ID int64 `json:"id"`
	}
	hitJSON(t, srv, "POST", "/groups", tok, `{"name":"Ops","path":"ops"}`, 201, &g)
	hitJSON(t, srv, "PUT", "/application/settings", srv.RootToken, `{"allow_local_requests_from_web_hooks_and_services":true}`, 200, nil)
	hitJSON(t, srv, "POST", fmt.Sprintf("/groups/%d/hooks", g.ID), tok, fmt.Sprintf(`{"url":%q,"resource_access_token_events":true}`, hooks.URL), 201, nil)
	hitJSON(t, srv, "POST", fmt.Sprintf("/groups/%d/access_tokens", g.ID), tok, `{"name":"a","scopes":["api"],"expires_at":"2026-08-10"}`, 201, nil) // 56 days
	hitJSON(t, srv, "POST", fmt.Sprintf("/groups/%d/access_tokens", g.ID), tok, `{"name":"b","scopes":["api"],"expires_at":"2026-07-10"}`, 201, nil) // 25 days
	run := func() {
		if _, err := srv.Service.RunLifecycle(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if n := len(hooks.received()); n != 0 {
		t.Fatalf("%d webhooks at 60/30 days without the extended setting, want 0", n)
	}
	var ls map[string]bool
	hitJSON(t, srv, "PUT", fmt.Sprintf("/groups/%d/keygate/lifecycle_settings", g.ID), tok, `{"extended_grat_expiry_webhooks_execute":true}`, 200, &ls)
	// The notices of those thresholds were already claimed (mails went): the next
	// thresholds bring webhooks.
	srv.Clock.Set(time.Date(2026, 7, 5, 9, 0, 0, 0, time.UTC)) // a: 36 days (60 claimed), b: 5 days
	run()
	srv.Clock.Set(time.Date(2026, 7, 12, 9, 0, 0, 0, time.UTC)) // a: 29 days
	run()
	var names []string
	for _, c := range hooks.received() {
		attrs := c.Body["object_attributes"].(map[string]any)
		grp := c.Body["group"].(map[string]any)
		if grp["full_path"] != "ops" || grp["group_id"] != float64(g.ID) {
			t.Errorf("group = %v", grp)
		}
		names = append(names, attrs["name"].(string))
	}
	if strings.Join(names, ",") != "b,a" {
		t.Errorf("webhooks for %v, want b (7 days) then a (30 days)", names)
	}
}

// TestNoticesOnceAcrossNodes: two nodes on one database running passes at once send
// each notice exactly once (SQLite shares the data dir; PostgreSQL the database).
func TestNoticesOnceAcrossNodes(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			smtp := keygatetest.NewSMTP(t, nil)
			a := keygatetest.NewServerWith(t, keygatetest.Options{Postgres: backend == "postgres", SMTPURL: smtp.URL()})
			b := keygatetest.NewServerWith(t, keygatetest.Options{Join: a, SMTPURL: smtp.URL()})
			for i := range 10 {
				u := a.User(t, fmt.Sprintf("user%d", i), false)
				hitJSON(t, a, "POST", fmt.Sprintf("/users/%d/personal_access_tokens", u.ID), a.RootToken,
					`{"name":"n","scopes":["api"],"expires_at":"2026-06-20"}`, 201, nil)
			}
			var wg sync.WaitGroup
			for _, s := range []*keygatetest.Server{a, b, a, b} {
				wg.Go(func() {
					if _, err := s.Service.RunLifecycle(t.Context()); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if n := len(mailsAbout(t, smtp, "will expire in 7 days", "n")); n != 10 {
				t.Errorf("7-day mails = %d, want exactly 10", n)
			}
		})
	}
}

// TestSchedulerInServer: the server's own scheduler (what `keygate serve` runs) sends a
// notice once its window opens on the test clock, without anyone calling a pass. It
// polls the real SMTP server with a deadline: the scheduler is a real goroutine.
func TestSchedulerInServer(t *testing.T) {
	smtp := keygatetest.NewSMTP(t, nil)
	srv := keygatetest.NewServerWith(t, keygatetest.Options{SMTPURL: smtp.URL(), LifecycleInterval: 20 * time.Millisecond})
	frank := srv.User(t, "frank", false)
	hitJSON(t, srv, "POST", fmt.Sprintf("/users/%d/personal_access_tokens", frank.ID), srv.RootToken,
		`{"name":"cron","scopes":["api"],"expires_at":"2026-09-01"}`, 201, nil) // 78 days: no notice yet
	srv.Clock.Set(time.Date(2026, 8, 20, 1, 0, 0, 0, time.UTC)) // 12 days left: the 30-day notice
	deadline := time.After(10 * time.Second)
	for len(mailsAbout(t, smtp, "will expire in 30 days", "cron")) == 0 {
		select {
		case <-smtp.Arrived():
		case <-deadline:
			t.Fatal("the scheduler sent no 30-day notice within 10 s")
		}
	}
	if n := len(mailsAbout(t, smtp, "will expire in", "cron")); n != 1 {
		t.Errorf("expiry notices = %d, want 1", n)
	}
}

package instance

import (
	"net/url"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/notify"
	"github.com/keygate/keygate/internal/service"
)

// deliverers builds the mail and webhook clients of the configuration. A nil Mailer
// (no SMTP URL) sends notices to the log and the in-app list only.
func deliverers(cfg Config) (service.Mailer, service.HookPoster, error) {
	hooks := &notify.Webhooks{UserAgent: "GitLab/" + keygate.APIVersion, InstanceURL: cfg.ExternalURL}
	if cfg.SMTPURL == "" {
		return nil, hooks, nil
	}
	host := "keygate.local"
	if u, err := url.Parse(cfg.ExternalURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	m, err := notify.ParseSMTPURL(cfg.SMTPURL, "Keygate <keygate@"+host+">")
	if err != nil {
		return nil, nil, err
	}
	return m, hooks, nil
}

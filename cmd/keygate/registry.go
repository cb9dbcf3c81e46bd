package main

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/internal/clock"
	"github.com/keygate/keygate/internal/instance"
	"github.com/keygate/keygate/internal/registryauth"
	"github.com/keygate/keygate/internal/server"
)

// registryFlags configure the container registry's token service (DESIGN §1.1).
type registryFlags struct {
	url, issuer, keyFile string
}

func (r *registryFlags) registerKey(cmd *cobra.Command, a *app) {
	cmd.Flags().StringVar(&r.issuer, "registry-issuer", a.envOr("KEYGATE_REGISTRY_ISSUER", registryauth.DefaultIssuer), "issuer of registry tokens; the registry's auth.token.issuer (KEYGATE_REGISTRY_ISSUER)")
	cmd.Flags().StringVar(&r.keyFile, "registry-key-file", a.envOr("KEYGATE_REGISTRY_KEY_FILE", ""), "registry token signing key, created 0600 with token.crt beside it on first start; shared by all nodes (KEYGATE_REGISTRY_KEY_FILE; default <data-dir>/registry/token.key)")
}

func (r *registryFlags) register(cmd *cobra.Command, a *app) {
	cmd.Flags().StringVar(&r.url, "registry-url", a.envOr("KEYGATE_REGISTRY_URL", ""), "container registry address as users see it; setting it turns /jwt/auth on (KEYGATE_REGISTRY_URL)")
	r.registerKey(cmd, a)
}

// key returns the key file path for a data dir.
func (r *registryFlags) key(dataDir string) string {
	if r.keyFile != "" {
		return r.keyFile
	}
	return instance.RegistryKeyFile(dataDir)
}

// config opens the signing key (creating it on first start) when --registry-url is set;
// nil means the registry is off.
func (r *registryFlags) config(a *app, dataDir string) (*server.RegistryConfig, error) {
	if r.url == "" {
		return nil, nil
	}
	host, err := registryHost(r.url)
	if err != nil {
		return nil, err
	}
	key, err := instance.LoadOrCreateRegistryKey(r.key(dataDir), r.issuer, clock.FromEnv(a.getenv).Now())
	if err != nil {
		return nil, err
	}
	signer, err := registryauth.NewSigner(key, r.issuer)
	if err != nil {
		return nil, err
	}
	return &server.RegistryConfig{Signer: signer, Host: host}, nil
}

// registryHost is the host[:port] of --registry-url, which may be a URL or a bare
// host:port (GitLab's registry host_port).
func registryHost(raw string) (string, error) {
	s := strings.TrimRight(strings.TrimSpace(raw), "/")
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "" {
		return "", fmt.Errorf("--registry-url %q: want the registry's address, like https://registry.example.com or registry.example.com:5050", raw)
	}
	return strings.ToLower(u.Host), nil
}

// newAdminRegistryCmd builds `keygate admin registry config`: the registry's auth.token
// block, ready to paste into its config.yml. It creates the signing key and certificate
// if the server has not yet.
func newAdminRegistryCmd(a *app, f *instanceFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "registry", Short: "Container registry integration"}
	var r registryFlags
	cfg := &cobra.Command{
		Use:   "config",
		Short: "Print the registry's auth.token configuration block (realm, service, issuer, rootcertbundle)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dataDir := f.dataDir
			if dataDir == "" {
				dataDir = instance.DefaultDataDir
			}
			keyFile := r.key(dataDir)
			if _, err := instance.LoadOrCreateRegistryKey(keyFile, r.issuer, clock.FromEnv(a.getenv).Now()); err != nil {
				return err
			}
			cert, err := filepath.Abs(instance.RegistryCertFile(keyFile))
			if err != nil {
				return err
			}
			ext := f.externalURL
			if ext == "" {
				ext = "http://" + instance.DefaultAddr
			}
			_, err = fmt.Fprint(a.stdout, registryauth.TokenBlock(strings.TrimRight(ext, "/")+registryauth.Path, r.issuer, cert))
			return err
		},
	}
	r.registerKey(cfg, a)
	cmd.AddCommand(cfg)
	return cmd
}

package instance

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/keygate/keygate/internal/registryauth"
)

// Registry key files (DESIGN §1.1): <data-dir>/registry/token.key, certificate beside it.
const (
	RegistryDirName  = "registry"
	RegistryKeyName  = "token.key"
	RegistryCertName = "token.crt"
)

// RegistryKeyFile is the default signing key path of a data dir.
func RegistryKeyFile(dataDir string) string {
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	return filepath.Join(dataDir, RegistryDirName, RegistryKeyName)
}

// RegistryCertFile is the certificate path that goes with a key file: token.crt in the
// same directory.
func RegistryCertFile(keyFile string) string {
	return filepath.Join(filepath.Dir(keyFile), RegistryCertName)
}

// LoadOrCreateRegistryKey reads the registry signing key, creating it (mode 0600) and
// its self-signed certificate on first use; a missing certificate is made from an
// existing key. Nodes sharing the files agree: the loser of an exclusive create reads
// the winner's file. A certificate for another key is an error, since the registry would
// refuse every token.
func LoadOrCreateRegistryKey(keyFile, issuer string, now time.Time) (*rsa.PrivateKey, error) {
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		return nil, fmt.Errorf("create registry key dir: %w", err)
	}
	data, err := os.ReadFile(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		gen, gerr := registryauth.GenerateKey()
		if gerr != nil {
			return nil, gerr
		}
		if werr := writeExclusive(keyFile, gen); werr != nil && !errors.Is(werr, fs.ErrExist) {
			return nil, fmt.Errorf("write registry key: %w", werr)
		}
		data, err = os.ReadFile(keyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("read registry key: %w", err)
	}
	key, err := registryauth.ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("registry key %s: %w", keyFile, err)
	}
	certFile := RegistryCertFile(keyFile)
	cert, err := os.ReadFile(certFile)
	if errors.Is(err, fs.ErrNotExist) {
		gen, gerr := registryauth.SelfSignedCert(key, issuer, now)
		if gerr != nil {
			return nil, gerr
		}
		werr := writeExclusive(certFile, gen)
		if werr != nil && !errors.Is(werr, fs.ErrExist) {
			return nil, fmt.Errorf("write registry certificate: %w", werr)
		}
		if werr == nil {
			// Public material: the registry, often another user, reads it.
			_ = os.Chmod(certFile, 0o644)
		}
		cert, err = os.ReadFile(certFile)
	}
	if err != nil {
		return nil, fmt.Errorf("read registry certificate: %w", err)
	}
	if err := registryauth.CheckCert(cert, key); err != nil {
		return nil, fmt.Errorf("registry certificate %s: %w", certFile, err)
	}
	return key, nil
}

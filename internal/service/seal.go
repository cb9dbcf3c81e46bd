package service

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
)

// Webhook secret tokens must go back to their receivers, so they cannot be digested like
// access tokens; they are kept sealed with AES-256-GCM under a key derived from the
// instance secret, so a database dump alone does not reveal them.

// sealedPrefix marks a sealed value (and its format version).
const sealedPrefix = "kg1:"

func (s *Service) hookAEAD() (cipher.AEAD, error) {
	key := s.dig.DeriveKey("webhook-secret-token")
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealHookSecret seals a hook's secret token ("" stays "").
func (s *Service) sealHookSecret(plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	aead, err := s.hookAEAD()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, []byte(plain), []byte("web_hooks.secret_token"))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// openHookSecret opens what sealHookSecret made.
func (s *Service) openHookSecret(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	rest, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return "", errors.New("hook secret token is not sealed")
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil {
		return "", err
	}
	aead, err := s.hookAEAD()
	if err != nil {
		return "", err
	}
	if len(raw) < aead.NonceSize() {
		return "", errors.New("hook secret token: sealed value too short")
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte("web_hooks.secret_token"))
	if err != nil {
		return "", errors.New("hook secret token: cannot open (instance secret changed?)")
	}
	return string(plain), nil
}

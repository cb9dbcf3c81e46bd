package secret

// DeriveKey returns a 32-byte key for one purpose, derived from the instance secret
// (HMAC-SHA-256 of a NUL-separated label no token can equal, since NUL is outside every
// token's alphabet). Every node sharing the secret derives the same key.
func (d *Digester) DeriveKey(purpose string) [32]byte {
	return d.sum("\x00keygate-derived-key\x00" + purpose)
}

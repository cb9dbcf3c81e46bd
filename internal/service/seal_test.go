package service

import (
	"strings"
	"testing"
)

func TestHookSecretSealing(t *testing.T) {
	svc, _ := benchService(t)
	sealed, err := svc.sealHookSecret("hook-secret")
	if err != nil || !strings.HasPrefix(sealed, sealedPrefix) || strings.Contains(sealed, "hook-secret") {
		t.Fatalf("sealHookSecret = %q, %v", sealed, err)
	}
	again, _ := svc.sealHookSecret("hook-secret")
	if again == sealed {
		t.Error("two seals of one value are equal: the nonce is not fresh")
	}
	if got, err := svc.openHookSecret(sealed); err != nil || got != "hook-secret" {
		t.Errorf("openHookSecret = %q, %v", got, err)
	}
	if got, err := svc.openHookSecret(""); err != nil || got != "" {
		t.Errorf("openHookSecret(\"\") = %q, %v", got, err)
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	for _, bad := range []string{tampered, "plain", sealedPrefix + "!!", sealedPrefix + "AAAA"} {
		if _, err := svc.openHookSecret(bad); err == nil {
			t.Errorf("openHookSecret(%q) succeeded, want an error", bad)
		}
	}
}

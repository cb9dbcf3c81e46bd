package service

import (
	"testing"

	"github.com/keygate/keygate"
)

func TestSettingsDiff(t *testing.T) {
	a := keygate.DefaultSettings()
	b := a
	if got := settingsDiff(a, b); got != "none" {
		t.Errorf("settingsDiff(same) = %q, want none", got)
	}
	b.AdminMode, b.MaxPersonalAccessTokenLifetime = true, 30
	if got, want := settingsDiff(a, b), "MaxPersonalAccessTokenLifetime: 0 → 30, AdminMode: false → true"; got != want {
		t.Errorf("settingsDiff = %q, want %q", got, want)
	}
}

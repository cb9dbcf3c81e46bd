//go:build testclock

package main

import "errors"

// rotateCrashHook: with KEYGATE_TEST_CRASH_AFTER_ROTATE=1, `connections rotate` stops
// after the server answered a rotation and before the successor is saved, as a killed
// process would. Test builds only.
func rotateCrashHook(getenv func(string) string) func(string) error {
	if getenv("KEYGATE_TEST_CRASH_AFTER_ROTATE") != "1" {
		return nil
	}
	return func(string) error { return errors.New("crash injected by KEYGATE_TEST_CRASH_AFTER_ROTATE") }
}

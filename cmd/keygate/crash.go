//go:build !testclock

package main

// rotateCrashHook is nil in production builds: only -tags testclock binaries can be told
// to die between a rotation and its save (crash.go's testclock twin).
func rotateCrashHook(func(string) string) func(string) error { return nil }

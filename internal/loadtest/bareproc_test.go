package loadtest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets this test binary be a bare handler process (BareExec).
func TestMain(m *testing.M) {
	ServeBareChild()
	os.Exit(m.Run())
}

// TestRunBareProcess: with BareExec the bare handler answers from a process of its own,
// which is gone when the run returns.
func TestRunBareProcess(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tokens := []string{"a", "b", "c"}
	_, u := newFake(t, tokens...)
	rep, err := Run(context.Background(), Config{URL: u, Tokens: tokens, Connections: 2, Duration: 300 * time.Millisecond, Bare: true, BareExec: exe, Rounds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Bare == nil || rep.Bare.Requests == 0 || rep.Bare.Errors != 0 || rep.BareProcess != "own" {
		t.Fatalf("bare = %+v, process %q; want answers from its own process", rep.Bare, rep.BareProcess)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "bare handler ran in its own process") {
		t.Errorf("text report = %q, %v", text.String(), err)
	}
	in, err := Run(context.Background(), Config{URL: u, Tokens: tokens, Connections: 2, Duration: 100 * time.Millisecond, Bare: true})
	if err != nil || in.BareProcess != "in-process" {
		t.Errorf("without BareExec: process %q, %v", in.BareProcess, err)
	}
}

// TestBareChildServesUntilStdinCloses: the child answers the body on any GET and stops
// when its parent closes (or loses) the pipe.
func TestBareChildServesUntilStdinCloses(t *testing.T) {
	path := t.TempDir() + "/body"
	if err := os.WriteFile(path, []byte(`{"id":1}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdinR, stdinW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- serveBareChild(path, stdinR, outW) }()
	buf := make([]byte, 200)
	n, err := outR.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	base, ok := strings.CutPrefix(strings.TrimSpace(string(buf[:n])), bareListening)
	if !ok {
		t.Fatalf("first line = %q", buf[:n])
	}
	resp, err := http.Get(base + pathUser)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != `{"id":1}`+"\n" {
		t.Fatalf("answer %d %q", resp.StatusCode, b)
	}
	stdinW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the child did not stop when its stdin closed")
	}
	if _, err := http.Get(base + pathUser); err == nil {
		t.Error("the child still answers after it stopped")
	}
}

// TestStartBareProcessFails: an executable that is not a bare handler is reported.
func TestStartBareProcessFails(t *testing.T) {
	if _, err := startBareProcess(context.Background(), "/bin/true", []byte("{}")); err == nil || !strings.Contains(err.Error(), "did not start") {
		t.Fatalf("err = %v", err)
	}
}

package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"
)

// bareBodyEnv names, in a bare handler process's environment, the file holding the body
// it answers. Its presence is what makes a process one.
const bareBodyEnv = "KEYGATE_LOADTEST_BARE_BODY"

// bareListening prefixes the one line a bare handler process prints: its base URL.
const bareListening = "bare handler listening on "

// ServeBareChild turns this process into the bare handler when it was started as one by
// a load run (BareExec): it listens on 127.0.0.1, prints its address, serves until its
// standard input closes (the load command finished or died), and exits. In any other
// process it returns at once. Binaries that may be a BareExec call it first.
func ServeBareChild() {
	path := os.Getenv(bareBodyEnv)
	if path == "" {
		return
	}
	if err := serveBareChild(path, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func serveBareChild(path string, stdin io.Reader, stdout io.Writer) error {
	body, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("loadtest: bare handler body: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("loadtest: bare handler: %w", err)
	}
	stop := serveBare(l, body)
	defer stop()
	if _, err := fmt.Fprintf(stdout, "%shttp://%s\n", bareListening, l.Addr()); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, stdin) // until the parent closes it or exits
	return nil
}

// startBareProcess starts exe as a bare handler process answering body and waits for
// its address.
func startBareProcess(ctx context.Context, exe string, body []byte) (*bare, error) {
	f, err := os.CreateTemp("", "keygate-bare-body-*")
	if err != nil {
		return nil, fmt.Errorf("loadtest: bare handler body: %w", err)
	}
	defer os.Remove(f.Name()) // the child reads it before it prints its address
	_, err = f.Write(body)
	if err = errors.Join(err, f.Close()); err != nil {
		return nil, fmt.Errorf("loadtest: bare handler body: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), bareBodyEnv+"="+f.Name())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadtest: start the bare handler process %s: %w", exe, err)
	}
	stop := func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		base, ok := strings.CutPrefix(strings.TrimSpace(s), bareListening)
		if !ok {
			stop()
			return nil, fmt.Errorf("loadtest: the bare handler process %s did not start (printed %q)", exe, s)
		}
		return &bare{base: base, stop: stop}, nil
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	stop()
	return nil, fmt.Errorf("loadtest: the bare handler process %s did not report its address", exe)
}

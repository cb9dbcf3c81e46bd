package forwardauth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// ReadFile reads and parses a gate file; errors name the file and each line, as
// `nginx -t` does.
func ReadFile(name string) (*Policy, error) {
	data, err := readLimited(name)
	if err != nil {
		return nil, err
	}
	p, err := Parse(data)
	if err != nil {
		return nil, FileError{Name: name, Err: err}
	}
	return p, nil
}

func readLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("gate file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("gate file: %w", err)
	}
	return data, nil
}

// FileError is a gate file's parse errors with the file's name.
type FileError struct {
	Name string
	Err  error
}

// Lines renders one "FILE:LINE: message" per problem.
func (e FileError) Lines() []string {
	es, ok := e.Err.(Errors)
	if !ok {
		return []string{e.Name + ": " + e.Err.Error()}
	}
	out := make([]string, len(es))
	for i, le := range es {
		if le.Line == 0 {
			out[i] = e.Name + ": " + le.Msg
		} else {
			out[i] = fmt.Sprintf("%s:%d: %s", e.Name, le.Line, le.Msg)
		}
	}
	return out
}

// Error names the file and its problems.
func (e FileError) Error() string { return "gate file " + e.Name + ": " + e.Err.Error() }

// Unwrap returns the Errors.
func (e FileError) Unwrap() error { return e.Err }

// Load reads the gate file and puts it in force. A file that does not parse changes
// nothing: the previous policy stays, and the error is returned (and logged).
func (g *Gate) Load(name string) error {
	data, err := readLimited(name)
	if err == nil {
		err = g.apply(name, data)
	}
	if err != nil {
		g.log.Error("gate file refused; the previous policy stays in force", "file", name, "err", err)
		return err
	}
	g.log.Info("gate file loaded", "file", name, "services", len(g.Policy().Services))
	return nil
}

// apply parses a gate file's content and puts it in force, remembering the content so
// Watch knows what is loaded.
func (g *Gate) apply(name string, data []byte) error {
	g.loaded.Store(&data)
	p, err := Parse(data)
	if err != nil {
		return FileError{Name: name, Err: err}
	}
	g.SetPolicy(p)
	return nil
}

// Watch reloads the gate file whenever its content changes, checking every interval,
// until ctx ends. Polling (rather than inotify) also sees a file replaced by rename, as
// configuration management and Kubernetes ConfigMaps do.
func (g *Gate) Watch(ctx context.Context, name string, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := readLimited(name)
		if last := g.loaded.Load(); err != nil || last != nil && bytes.Equal(data, *last) {
			continue // unreadable (being replaced) or unchanged since the last attempt
		}
		if err := g.apply(name, data); err != nil {
			g.log.Error("gate file refused; the previous policy stays in force", "file", name, "err", err)
			continue
		}
		g.log.Info("gate file reloaded", "file", name, "services", len(g.Policy().Services))
	}
}

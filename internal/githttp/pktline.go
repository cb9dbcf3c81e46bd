package githttp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/keygate/keygate/internal/authz"
)

// A receive-pack request body starts with the ref-update commands in pkt-lines, ends
// them with a flush-pkt, and then carries push options and the pack (gitprotocol-pack(5)):
//
//	*shallow-line  command-line *command-line  flush-pkt  [push-options]  [pack]
//
// Keygate reads the command section to judge the refs before the pack arrives, and
// replays the bytes it read in front of the rest, so the pack streams through untouched.

// maxPkt is the largest pkt-line, length prefix included.
const maxPkt = 65520

// Push is the command section of a receive-pack request.
type Push struct {
	Updates []authz.RefUpdate
	// Capabilities are those the client asked for on its first command.
	Capabilities []string
}

// Has reports whether the client asked for a capability.
func (p Push) Has(cap string) bool { return slices.Contains(p.Capabilities, cap) }

// errProtocol is a request that is not a well-formed receive-pack command section.
var errProtocol = errors.New("malformed receive-pack request")

// ReadCommands reads the command section of a receive-pack request from r, at most
// limit bytes, and returns it with the exact bytes it consumed. It reads nothing past
// the flush-pkt that ends the commands.
func ReadCommands(r io.Reader, limit int) (Push, []byte, error) {
	var push Push
	var raw bytes.Buffer
	buf := make([]byte, maxPkt)
	first := true
	for {
		if raw.Len()+4 > limit {
			return Push{}, raw.Bytes(), fmt.Errorf("%w: command section longer than %d bytes", errProtocol, limit)
		}
		if _, err := io.ReadFull(r, buf[:4]); err != nil {
			return Push{}, raw.Bytes(), fmt.Errorf("%w: %w", errProtocol, err)
		}
		n, err := strconv.ParseUint(string(buf[:4]), 16, 16)
		if err != nil {
			return Push{}, raw.Bytes(), fmt.Errorf("%w: bad pkt-line length %q", errProtocol, buf[:4])
		}
		raw.Write(buf[:4])
		if n == 0 {
			return push, raw.Bytes(), nil // flush: the commands are complete
		}
		if n < 4 || n > maxPkt || raw.Len()-4+int(n) > limit {
			return Push{}, raw.Bytes(), fmt.Errorf("%w: pkt-line length %d", errProtocol, n)
		}
		payload := buf[4:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return Push{}, raw.Bytes(), fmt.Errorf("%w: %w", errProtocol, err)
		}
		raw.Write(payload)
		line := strings.TrimSuffix(string(payload), "\n")
		if first && strings.HasPrefix(line, "shallow ") {
			continue // shallow lines come before the commands; they name no ref
		}
		if first && strings.HasPrefix(line, "push-cert") {
			// Keygate never advertises push-cert, so a client does not send one.
			return Push{}, raw.Bytes(), fmt.Errorf("%w: signed pushes are not supported", errProtocol)
		}
		cmd, caps, hasCaps := strings.Cut(line, "\x00")
		if first && hasCaps {
			push.Capabilities = strings.Fields(caps)
		} else if hasCaps {
			return Push{}, raw.Bytes(), fmt.Errorf("%w: NUL in a later command", errProtocol)
		}
		first = false
		u, ok := parseCommand(cmd)
		if !ok {
			return Push{}, raw.Bytes(), fmt.Errorf("%w: bad command %q", errProtocol, cmd)
		}
		push.Updates = append(push.Updates, u)
	}
}

// parseCommand reads "<old-id> <new-id> <refname>".
func parseCommand(s string) (authz.RefUpdate, bool) {
	f := strings.Split(s, " ")
	if len(f) != 3 || !objectID(f[0]) || !objectID(f[1]) || len(f[0]) != len(f[1]) || f[2] == "" {
		return authz.RefUpdate{}, false
	}
	if strings.ContainsFunc(f[2], func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return authz.RefUpdate{}, false
	}
	return authz.RefUpdate{Old: f[0], New: f[1], Ref: f[2]}, true
}

// objectID is a SHA-1 or SHA-256 object name in lower-case hex.
func objectID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// pktLine frames payload as one pkt-line.
func pktLine(payload string) string {
	return fmt.Sprintf("%04x", len(payload)+4) + payload
}

// refusal is the receive-pack result a pre-receive hook's refusal produces: the message
// on the progress band ("remote: GitLab: …" on the client), then the status report with
// every ref declined, as git does when the hook fails. Without report-status the client
// could not read a refusal at all, so ok is false and the caller answers 403 instead.
func refusal(p Push, message string) (body []byte, ok bool) {
	if !p.Has("report-status") && !p.Has("report-status-v2") {
		return nil, false
	}
	var report strings.Builder
	report.WriteString(pktLine("unpack ok\n"))
	for _, u := range p.Updates {
		report.WriteString(pktLine("ng " + u.Ref + " pre-receive hook declined\n"))
	}
	report.WriteString("0000")
	band := 0
	switch {
	case p.Has("side-band-64k"):
		band = maxPkt - 5
	case p.Has("side-band"):
		band = 1000 - 5
	}
	if band == 0 {
		return []byte(report.String()), true // no band for the message: git shows only the refs
	}
	var out bytes.Buffer
	sideband := func(ch byte, data string) {
		for len(data) > 0 {
			n := min(len(data), band)
			out.WriteString(fmt.Sprintf("%04x", n+5))
			out.WriteByte(ch)
			out.WriteString(data[:n])
			data = data[n:]
		}
	}
	if !strings.HasSuffix(message, "\n") {
		message += "\n"
	}
	sideband(2, "GitLab: "+message)
	sideband(1, report.String())
	out.WriteString("0000")
	return out.Bytes(), true
}

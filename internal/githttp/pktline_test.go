package githttp

import (
	"bufio"
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/authz"
)

const (
	zero = "0000000000000000000000000000000000000000"
	idA  = "1111111111111111111111111111111111111111"
	idB  = "2222222222222222222222222222222222222222"
)

func commands(lines ...string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(pktLine(l))
	}
	return b.String() + "0000"
}

var commandCases = []struct {
	name    string
	in      string
	want    Push
	wantErr bool
}{
	{name: "create with capabilities",
		in:   commands(zero + " " + idA + " refs/heads/main\x00 report-status-v2 side-band-64k quiet object-format=sha1 agent=git/2.39.5\n"),
		want: Push{Updates: []authz.RefUpdate{{Old: zero, New: idA, Ref: "refs/heads/main"}}, Capabilities: []string{"report-status-v2", "side-band-64k", "quiet", "object-format=sha1", "agent=git/2.39.5"}}},
	{name: "several",
		in: commands(idA+" "+idB+" refs/heads/main\x00report-status\n", zero+" "+idB+" refs/tags/v1\n", idA+" "+zero+" refs/heads/old"),
		want: Push{Updates: []authz.RefUpdate{
			{Old: idA, New: idB, Ref: "refs/heads/main"}, {Old: zero, New: idB, Ref: "refs/tags/v1"}, {Old: idA, New: zero, Ref: "refs/heads/old"},
		}, Capabilities: []string{"report-status"}}},
	{name: "shallow first",
		in:   commands("shallow "+idA+"\n", idA+" "+idB+" refs/heads/x\x00report-status\n"),
		want: Push{Updates: []authz.RefUpdate{{Old: idA, New: idB, Ref: "refs/heads/x"}}, Capabilities: []string{"report-status"}}},
	{name: "sha256",
		in:   commands(strings.Repeat("0", 64) + " " + strings.Repeat("a", 64) + " refs/heads/main\x00\n"),
		want: Push{Updates: []authz.RefUpdate{{Old: strings.Repeat("0", 64), New: strings.Repeat("a", 64), Ref: "refs/heads/main"}}, Capabilities: []string{}}},
	{name: "empty", in: "0000", want: Push{}},
	{name: "no flush", in: pktLine(zero + " " + idA + " refs/heads/main\n"), wantErr: true},
	{name: "truncated payload", in: "0040" + zero, wantErr: true},
	{name: "bad length", in: "zzzz", wantErr: true},
	{name: "delim packet", in: "0001", wantErr: true},
	{name: "short id", in: commands("abc " + idA + " refs/heads/x\n"), wantErr: true},
	{name: "upper-case id", in: commands(strings.ToUpper("a"+idA[1:]) + " " + idA + " refs/heads/x\n"), wantErr: true},
	{name: "mixed id lengths", in: commands(zero + " " + strings.Repeat("a", 64) + " refs/heads/x\n"), wantErr: true},
	{name: "no ref", in: commands(zero + " " + idA + "\n"), wantErr: true},
	{name: "space in ref", in: commands(zero + " " + idA + " refs/heads/a b\n"), wantErr: true},
	{name: "NUL later", in: commands(zero+" "+idA+" refs/heads/a\n", zero+" "+idA+" refs/heads/b\x00x\n"), wantErr: true},
	{name: "push cert", in: commands("push-cert\x00report-status\n", "certificate version 0.1\n"), wantErr: true},
}

func TestReadCommands(t *testing.T) {
	for _, tc := range commandCases {
		t.Run(tc.name, func(t *testing.T) {
			pack := "PACK\x00\x00\x00\x02rest-of-the-pack"
			r := bufio.NewReader(strings.NewReader(tc.in + pack))
			got, raw, err := ReadCommands(r, maxCommandBytes)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ReadCommands(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ReadCommands(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if string(raw) != tc.in {
				t.Errorf("ReadCommands(%q) consumed %q, want exactly the command section", tc.in, raw)
			}
			rest, _ := io.ReadAll(r)
			if string(rest) != pack {
				t.Errorf("after ReadCommands(%q) the body continues %q, want the pack %q", tc.in, rest, pack)
			}
		})
	}
}

func TestReadCommandsLimit(t *testing.T) {
	in := commands(zero+" "+idA+" refs/heads/a\x00report-status\n", zero+" "+idA+" refs/heads/b\n")
	if _, _, err := ReadCommands(strings.NewReader(in), 100); err == nil {
		t.Errorf("ReadCommands(%d bytes, limit 100) = nil error, want the limit enforced", len(in))
	}
}

// FuzzReadCommands: the parser never panics, never reads past its limit, and what it
// consumed is a prefix of the input that parses again to the same commands.
func FuzzReadCommands(f *testing.F) {
	for _, tc := range commandCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 4096
		got, raw, err := ReadCommands(bytes.NewReader(in), limit)
		if len(raw) > limit+maxPkt || !bytes.HasPrefix(in, raw) {
			t.Fatalf("ReadCommands consumed %d bytes %q of %q", len(raw), raw, in)
		}
		if err != nil {
			return
		}
		again, raw2, err := ReadCommands(bytes.NewReader(raw), limit)
		if err != nil || !bytes.Equal(raw, raw2) || !reflect.DeepEqual(got, again) {
			t.Fatalf("ReadCommands(%q) = %+v, but its own bytes parse to %+v, %v", in, got, again, err)
		}
		for _, u := range got.Updates {
			if !objectID(u.Old) || !objectID(u.New) || u.Ref == "" || strings.ContainsAny(u.Ref, " \x00\n") {
				t.Fatalf("ReadCommands(%q) accepted %+v", in, u)
			}
		}
	})
}

// band frames data as one side-band packet of channel ch.
func band(ch byte, data string) string { return pktLine(string(rune(ch)) + data) }

func TestRefusal(t *testing.T) {
	push := Push{Updates: []authz.RefUpdate{{Old: idA, New: idB, Ref: "refs/heads/main"}, {Old: zero, New: idB, Ref: "refs/heads/x"}}}
	for _, tc := range []struct {
		name string
		caps []string
		want string
		ok   bool
	}{
		{name: "no report", caps: []string{"side-band-64k"}},
		{name: "report only", caps: []string{"report-status"}, ok: true,
			want: pktLine("unpack ok\n") + pktLine("ng refs/heads/main pre-receive hook declined\n") + pktLine("ng refs/heads/x pre-receive hook declined\n") + "0000"},
		{name: "side band", caps: []string{"report-status-v2", "side-band-64k"}, ok: true,
			want: band(2, "GitLab: Not allowed.\n") + band(1, pktLine("unpack ok\n")+pktLine("ng refs/heads/main pre-receive hook declined\n")+pktLine("ng refs/heads/x pre-receive hook declined\n")+"0000") + "0000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := push
			p.Capabilities = tc.caps
			got, ok := refusal(p, "Not allowed.")
			if ok != tc.ok || string(got) != tc.want {
				t.Errorf("refusal(%v) = %q, %v, want %q, %v", tc.caps, got, ok, tc.want, tc.ok)
			}
		})
	}
}

package loadtest

import (
	"errors"
	"fmt"
)

// Op is one kind of request the load sends.
type Op int

// The operations: verify is GET /api/v4/user; create is POST
// /api/v4/user/personal_access_tokens (a k8s_proxy token for the caller); revoke is
// DELETE /api/v4/personal_access_tokens/self with a token created during the run.
const (
	OpVerify Op = iota
	OpCreate
	OpRevoke
	numOps
)

func (o Op) String() string {
	switch o {
	case OpVerify:
		return "verify"
	case OpCreate:
		return "create"
	case OpRevoke:
		return "revoke"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Mix is the share of each operation, as weights (percentages in practice).
type Mix struct {
	Verify, Create, Revoke int
}

// StandardMix is the mixed load: 90 % verifies, 9 % creates, 1 % revokes.
func StandardMix() Mix { return Mix{Verify: 90, Create: 9, Revoke: 1} }

// VerifyOnly is the plain load.
func VerifyOnly() Mix { return Mix{Verify: 1} }

func (m Mix) weights() [numOps]int { return [numOps]int{m.Verify, m.Create, m.Revoke} }

// Validate refuses negative weights, a mix of nothing, and revokes without creates (a
// revoke needs a token created during the run).
func (m Mix) Validate() error {
	total := 0
	for _, w := range m.weights() {
		if w < 0 {
			return errors.New("loadtest: negative weight in mix")
		}
		total += w
	}
	if total == 0 {
		return errors.New("loadtest: mix has no operations")
	}
	if m.Revoke > 0 && m.Create == 0 {
		return errors.New("loadtest: a mix with revokes needs creates")
	}
	return nil
}

// Scheduler picks the next operation so that the proportions of a Mix hold exactly over
// every cycle of Verify+Create+Revoke picks, with each operation spread evenly over the
// cycle rather than bunched (smooth weighted round robin, as nginx balances upstreams).
// With the standard mix, the first revoke of a cycle comes after creates of that cycle,
// so a worker always has a token of its own to revoke. It is not safe for concurrent
// use; each worker owns one.
type Scheduler struct {
	w, cur [numOps]int
	total  int
}

// NewScheduler returns a scheduler for m.
func NewScheduler(m Mix) (*Scheduler, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	s := &Scheduler{w: m.weights()}
	for _, w := range s.w {
		s.total += w
	}
	return s, nil
}

// Next returns the next operation.
func (s *Scheduler) Next() Op {
	best := OpVerify
	for i := range s.cur {
		s.cur[i] += s.w[i]
		if s.cur[i] > s.cur[best] {
			best = Op(i)
		}
	}
	s.cur[best] -= s.total
	return best
}

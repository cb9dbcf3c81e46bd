package loadtest

import "testing"

func TestSchedulerProportions(t *testing.T) {
	cases := []struct {
		mix    Mix
		cycles int
	}{
		{StandardMix(), 1},
		{StandardMix(), 37},
		{VerifyOnly(), 10},
		{Mix{Verify: 1, Create: 1, Revoke: 1}, 5},
		{Mix{Create: 3, Revoke: 1}, 4},
	}
	for _, c := range cases {
		s, err := NewScheduler(c.mix)
		if err != nil {
			t.Fatalf("NewScheduler(%+v): %v", c.mix, err)
		}
		total := c.mix.Verify + c.mix.Create + c.mix.Revoke
		var got [numOps]int
		outstanding := 0 // tokens created and not yet revoked
		for i := range total * c.cycles {
			op := s.Next()
			got[op]++
			switch op {
			case OpCreate:
				outstanding++
			case OpRevoke:
				if outstanding == 0 {
					t.Fatalf("%+v: pick %d is a revoke before any create", c.mix, i)
				}
				outstanding--
			}
			// Within every cycle the counts are exact.
			if (i+1)%total == 0 {
				n := (i + 1) / total
				if got != [numOps]int{c.mix.Verify * n, c.mix.Create * n, c.mix.Revoke * n} {
					t.Fatalf("%+v: after %d cycles counts = %v", c.mix, n, got)
				}
			}
		}
	}
}

// TestSchedulerSpread checks the standard mix interleaves: no run of creates, and
// never more than 11 verifies in a row (90 of 100 spread around 9 creates and a revoke).
func TestSchedulerSpread(t *testing.T) {
	s, _ := NewScheduler(StandardMix())
	run, maxRun := 0, 0
	prev := OpVerify
	for range 1000 {
		op := s.Next()
		if op != OpVerify && op == prev {
			t.Fatalf("two %v in a row", op)
		}
		if op == OpVerify {
			run++
			maxRun = max(maxRun, run)
		} else {
			run = 0
		}
		prev = op
	}
	if maxRun > 11 {
		t.Errorf("longest run of verifies = %d, want at most 11", maxRun)
	}
}

func TestMixValidate(t *testing.T) {
	cases := []struct {
		mix Mix
		ok  bool
	}{
		{StandardMix(), true},
		{VerifyOnly(), true},
		{Mix{}, false},
		{Mix{Verify: -1, Create: 2}, false},
		{Mix{Verify: 10, Revoke: 1}, false},
	}
	for _, c := range cases {
		if err := c.mix.Validate(); (err == nil) != c.ok {
			t.Errorf("Mix%+v.Validate() = %v, want ok %v", c.mix, err, c.ok)
		}
	}
}

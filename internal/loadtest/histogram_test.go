package loadtest

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, 255, 256, 257, 511, 512, 1000, 1 << 20, 1<<maxBits - 1}
	for range 10000 {
		values = append(values, rng.Uint64N(1<<rng.IntN(maxBits)+1))
	}
	for _, v := range values {
		i := bucketOf(v)
		lo, hi := bucketRange(i)
		if i < 0 || i >= numBuckets || v < lo || v > hi {
			t.Fatalf("bucketOf(%d) = %d holding [%d, %d], want a valid bucket holding the value", v, i, lo, hi)
		}
		if width := hi - lo + 1; v >= 1<<subBits && width*subHalf > lo {
			t.Fatalf("bucket of %d is [%d, %d]: wider than 1/%d of its values", v, lo, hi, subHalf)
		}
	}
	// Buckets tile the range without gaps.
	for i := 1; i < numBuckets; i++ {
		_, prevHi := bucketRange(i - 1)
		lo, _ := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucketRange(%d) starts at %d, want %d", i, lo, prevHi+1)
		}
	}
	if got := bucketOf(1 << 62); got != numBuckets-1 {
		t.Errorf("bucketOf(2^62) = %d, want the last bucket %d", got, numBuckets-1)
	}
}

// exactQuantile is the nearest-rank quantile of sorted values.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(float64(len(sorted))*q + 0.999999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		name string
		gen  func() time.Duration
		n    int
	}{
		{"constant", func() time.Duration { return 750 * time.Microsecond }, 1000},
		{"uniform 0-10ms", func() time.Duration { return time.Duration(rng.Int64N(int64(10 * time.Millisecond))) }, 50000},
		{"exponential", func() time.Duration { return time.Duration(rng.ExpFloat64() * float64(time.Millisecond)) }, 50000},
		{"long tail", func() time.Duration {
			if rng.IntN(100) == 0 {
				return time.Duration(rng.Int64N(int64(time.Second)))
			}
			return time.Duration(100_000 + rng.Int64N(100_000))
		}, 20000},
		{"tiny", func() time.Duration { return time.Duration(rng.IntN(200)) }, 5000},
		{"one", func() time.Duration { return 42 * time.Millisecond }, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h Histogram
			vals := make([]time.Duration, c.n)
			var sum time.Duration
			for i := range vals {
				vals[i] = c.gen()
				sum += vals[i]
				h.Record(vals[i])
			}
			slices.Sort(vals)
			for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
				want, got := exactQuantile(vals, q), h.Quantile(q)
				if got < want || float64(got-want) > float64(want)/subHalf+1 {
					t.Errorf("Quantile(%v) = %v, want %v to %v (+%.2f %%)", q, got, want, want+want/subHalf, 100.0/subHalf)
				}
			}
			if h.Count() != uint64(c.n) || h.Max() != vals[len(vals)-1] || h.Min() != vals[0] {
				t.Errorf("Count, Min, Max = %d, %v, %v, want %d, %v, %v", h.Count(), h.Min(), h.Max(), c.n, vals[0], vals[len(vals)-1])
			}
			if want := sum / time.Duration(c.n); h.Mean() != want {
				t.Errorf("Mean() = %v, want %v", h.Mean(), want)
			}
		})
	}
}

func TestHistogramMergeAndEmpty(t *testing.T) {
	var empty Histogram
	if empty.Quantile(0.99) != 0 || empty.Mean() != 0 || empty.Min() != 0 || empty.Max() != 0 {
		t.Error("an empty histogram reports nonzero values")
	}
	var a, b, m, all Histogram
	for i := range 1000 {
		d := time.Duration(i) * time.Microsecond
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	m.Merge(&a)
	m.Merge(&b)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		if m.Quantile(q) != all.Quantile(q) {
			t.Errorf("merged Quantile(%v) = %v, want %v", q, m.Quantile(q), all.Quantile(q))
		}
	}
	if m.Count() != 1000 || m.Min() != 0 || m.Max() != 999*time.Microsecond || m.Mean() != all.Mean() {
		t.Errorf("merged Count, Min, Max, Mean = %d, %v, %v, %v", m.Count(), m.Min(), m.Max(), m.Mean())
	}
	m.Reset()
	if m.Count() != 0 || m.Quantile(0.5) != 0 {
		t.Error("Reset left values")
	}
	var neg Histogram
	neg.Record(-time.Second)
	if neg.Max() != 0 || neg.Quantile(1) != 0 {
		t.Errorf("a negative duration counts as %v, want 0", neg.Max())
	}
}

func TestHistogramRecordAllocs(t *testing.T) {
	var h Histogram
	if n := testing.AllocsPerRun(1000, func() { h.Record(time.Millisecond) }); n != 0 {
		t.Errorf("Record allocates %v times, want 0", n)
	}
}

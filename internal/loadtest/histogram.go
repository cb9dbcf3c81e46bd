package loadtest

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram's layout, HDR-style: values (nanoseconds) below 2^subBits are counted
// exactly; above, every power of two is split into 2^(subBits-1) equal buckets, so a
// bucket is never wider than 1/2^(subBits-1) (0.78 %) of the values it holds. Values
// from 2^maxBits ns (about 4.9 hours) up land in the last bucket.
const (
	subBits    = 8
	subHalf    = 1 << (subBits - 1)
	maxBits    = 44
	numBuckets = (maxBits-subBits+1)*subHalf + subHalf
)

// Histogram counts latencies. One goroutine records into it while others may read it
// (the progress line): every field is atomic, and a recording touches only memory no
// other writer shares, so it costs a few uncontended atomic adds. The zero value is
// ready to use.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // nanoseconds
	min    atomic.Int64  // nanoseconds + 1; 0 while empty
	max    atomic.Int64  // nanoseconds
}

// bucketOf returns the bucket index of v nanoseconds.
func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	if v >= 1<<maxBits {
		v = 1<<maxBits - 1
	}
	shift := bits.Len64(v) - subBits
	return shift*subHalf + int(v>>shift)
}

// bucketRange returns the smallest and largest value bucket i holds.
func bucketRange(i int) (lo, hi uint64) {
	if i < 1<<subBits {
		return uint64(i), uint64(i)
	}
	shift := i/subHalf - 1
	m := uint64(i - shift*subHalf)
	return m << shift, (m+1)<<shift - 1
}

// Record counts one latency; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(uint64(v))].Add(1)
	h.n.Add(1)
	h.sum.Add(uint64(v))
	for {
		m := h.min.Load()
		if m != 0 && m-1 <= v || h.min.CompareAndSwap(m, v+1) {
			break
		}
	}
	for {
		m := h.max.Load()
		if m >= v || h.max.CompareAndSwap(m, v) {
			break
		}
	}
}

// Merge adds the counts of o into h. It is safe while o is being recorded into; h must
// have no concurrent writer.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	h.sum.Add(o.sum.Load())
	if m := o.min.Load(); m != 0 && (h.min.Load() == 0 || m < h.min.Load()) {
		h.min.Store(m)
	}
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}

// Reset empties h; it must have no concurrent writer.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.n.Store(0)
	h.sum.Store(0)
	h.min.Store(0)
	h.max.Store(0)
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest value recorded, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Min is the smallest value recorded, exactly (0 while empty).
func (h *Histogram) Min() time.Duration {
	if m := h.min.Load(); m != 0 {
		return time.Duration(m - 1)
	}
	return 0
}

// Mean is the exact arithmetic mean (0 while empty).
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the q-quantile (0 < q ≤ 1) by the nearest-rank method: the value of
// rank ⌈q·n⌉ in sorted order, reported as the largest value its bucket can hold (capped
// at the exact maximum), so it never under-reports and is high by at most 0.78 %. It is
// 0 while the histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := bucketRange(i)
			return time.Duration(min(hi, uint64(h.max.Load())))
		}
	}
	return h.Max() // counts raced ahead of n while being recorded into
}

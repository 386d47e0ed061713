package placement

import (
	"math"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// milli is a scalar as Mesos holds it: fixed-point thousandths (Value::Scalar,
// convertToFixed).
func milli(v float64) int64 { return int64(math.Round(v * 1000)) }

// Mesos counts scalars in thousandths: a task's resources, as they are sent, must fit
// what is offered in thousandths, and a task fits where its amount does once rounded.
// Memory asked in decimal units is no whole number of MB: 250M is 238.4185791015625 MB,
// sent as 238.419.
func TestPlaceCountsThousandthsAsMesosDoes(t *testing.T) {
	mb := func(bytes float64) float64 { return bytes / (1 << 20) }
	cases := []struct {
		name   string
		offer  mesos.Offer
		exec   *Request
		reqs   []Request
		placed int
	}{
		{
			name:   "amounts rounded up do not add up to more than offered",
			offer:  roleOffer("a", "*", 3, 715.256),
			reqs:   []Request{req("1", 0.1, mb(250e6)), req("2", 0.1, mb(250e6)), req("3", 0.1, mb(250e6))},
			placed: 2, // 3 × 238.419 = 715.257
		},
		{
			name:   "with the executor started by the first",
			offer:  roleOffer("a", "*", 3, 64+715.256),
			exec:   &Request{CPUs: 0.1, MemMB: 64},
			reqs:   []Request{req("1", 0.1, mb(250e6)), req("2", 0.1, mb(250e6)), req("3", 0.1, mb(250e6))},
			placed: 2,
		},
		{
			name:   "an amount rounded down fits what holds it",
			offer:  roleOffer("a", "*", 1, 122.07),
			reqs:   []Request{req("128M", 0.1, mb(128e6))}, // 122.0703125 MB, sent as 122.07
			placed: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Requests: tc.reqs, Offers: []mesos.Offer{tc.offer}}
			if tc.exec != nil {
				in.ExecutorID, in.ExecutorResources = "exec", *tc.exec
			}
			res := Place(in)
			checkResult(t, in, res)
			if len(res.Assignments) != tc.placed {
				t.Errorf("placed %d, want %d (unplaced %v, waiting %v)", len(res.Assignments), tc.placed, res.Unplaced, res.Waiting)
			}
			var taken int64
			for _, a := range res.Assignments {
				for _, r := range a.Resources {
					if r.Name == "mem" {
						taken += milli(r.GetScalar().GetValue())
					}
				}
				if a.NeedsExecutor {
					taken += milli(sumOf(a.ExecutorResources, "mem"))
				}
			}
			if offered := milli(sumOf(tc.offer.Resources, "mem")); taken > offered {
				t.Errorf("tasks take %d thousandths of a MB of mem, more than the %d offered: Mesos refuses the last (TASK_ERROR)", taken, offered)
			}
		})
	}
}

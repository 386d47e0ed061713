package scheduler

import (
	"slices"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/event"
)

// A scheduler's news of its agents (an executor's Hello) wakes the listeners of every
// wake-up, not those of the drivers' changes alone, which walk a cluster's pods or tasks
// at each; a driver's change wakes both.
func TestWakeUpsReachTheirListeners(t *testing.T) {
	r := NewRegistry()
	all, drivers := r.Listen(), r.ListenDrivers()
	r.Wake("news")
	r.WakeDriver("driver")
	for _, tc := range []struct {
		name string
		ch   <-chan event.GenericEvent
		want []string
	}{
		{"Listen", all, []string{"news", "driver"}},
		{"ListenDrivers", drivers, []string{"driver"}},
	} {
		var got []string
		for len(tc.ch) > 0 {
			got = append(got, (<-tc.ch).Object.GetName())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s got wake-ups of %v, want %v", tc.name, got, tc.want)
		}
	}
}

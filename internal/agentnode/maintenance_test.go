package agentnode

import (
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// An agent whose machine is scheduled for maintenance has a Node tainted NoSchedule, with
// a condition that says when; one that is not has neither.
func TestMaintenanceTaintAndCondition(t *testing.T) {
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	now := metav1.NewTime(start.Add(-time.Hour))
	earlier := metav1.NewTime(start.Add(-2 * time.Hour))
	for _, tc := range []struct {
		name      string
		window    *Unavailability
		previous  []corev1.NodeCondition
		tainted   bool
		message   string
		sinceThen bool
	}{
		{name: "not scheduled"},
		{name: "a window of an hour", window: &Unavailability{Start: start, Duration: time.Hour}, tainted: true,
			message: "from 2026-12-07T10:00:00Z for 1h0m0s"},
		{name: "no end given", window: &Unavailability{Start: start}, tainted: true,
			message: "from 2026-12-07T10:00:00Z, with no end given"},
		{name: "scheduled before: its transition time is kept", window: &Unavailability{Start: start}, tainted: true,
			message: "from 2026-12-07T10:00:00Z", sinceThen: true,
			previous: []corev1.NodeCondition{{Type: ConditionMaintenance, Status: corev1.ConditionTrue, LastTransitionTime: earlier}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Agent{ID: "a1", Hostname: "h1", Unavailability: tc.window}
			n := Desired("c", a)
			if got := len(n.Spec.Taints) == 2 && n.Spec.Taints[1] == MaintenanceTaint(); got != tc.tainted {
				t.Errorf("taints %v; want the maintenance taint: %v", n.Spec.Taints, tc.tainted)
			}
			if n.Spec.Taints[0] != Taint("c") {
				t.Errorf("first taint %v; want the cluster's", n.Spec.Taints[0])
			}
			st := Status(a, true, now, tc.previous)
			var c *corev1.NodeCondition
			for i := range st.Conditions {
				if st.Conditions[i].Type == ConditionMaintenance {
					c = &st.Conditions[i]
				}
			}
			if (c != nil) != tc.tainted {
				t.Fatalf("conditions %v; want MesosMaintenance: %v", st.Conditions, tc.tainted)
			}
			if c == nil {
				return
			}
			if c.Status != corev1.ConditionTrue || c.Reason != ReasonMaintenanceScheduled || !strings.Contains(c.Message, tc.message) {
				t.Errorf("condition %+v; want True, %s, saying %q", c, ReasonMaintenanceScheduled, tc.message)
			}
			if want := map[bool]metav1.Time{true: earlier, false: now}[tc.sinceThen]; !c.LastTransitionTime.Equal(&want) {
				t.Errorf("transition at %v; want %v", c.LastTransitionTime, want)
			}
		})
	}
}

// Mesos's Unavailability is read as nanoseconds since the epoch and a duration that may
// be absent.
func TestUnavailabilityOf(t *testing.T) {
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	if UnavailabilityOf(nil) != nil {
		t.Error("no unavailability read as one")
	}
	got := UnavailabilityOf(&mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: start.UnixNano()}})
	if want := (&Unavailability{Start: start}); !got.Equal(want) {
		t.Errorf("got %v; want %v", got, want)
	}
	got = UnavailabilityOf(&mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: start.UnixNano()},
		Duration: &mesos.DurationInfo{Nanoseconds: int64(time.Hour)}})
	if want := (&Unavailability{Start: start, Duration: time.Hour}); !got.Equal(want) {
		t.Errorf("got %v; want %v", got, want)
	}
	if got.Equal(nil) || (*Unavailability)(nil).Equal(got) || !(*Unavailability)(nil).Equal(nil) {
		t.Error("Equal is wrong about nil")
	}
}
